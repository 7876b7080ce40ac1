//! Pure rules: no I/O, no clock, no randomness. Each takes its inputs as values and is unit-tested here.

pub mod assign;
pub mod business_hours;
pub mod greeting;
pub mod shortcode;

pub use assign::{pick_agent, plan_assignments, Assignment, WaitingChat};
pub use business_hours::{open_at, BusinessHours};
pub use greeting::{choose_greeting, pick_greeting, GreetingSituation};
pub use shortcode::render;
