//! kefu's domain: the types every function shares, the pure rules (which greeting, who gets the next chat,
//! how shortcodes are filled in), the ports (traits) through which the use cases reach storage, queues and
//! channels, and the channel codecs. Nothing here names an AWS type: adapters live in `kefu-aws`.

pub mod channels;
pub mod messages;
pub mod model;
pub mod ports;
pub mod rules;
pub mod service;

pub use model::*;
