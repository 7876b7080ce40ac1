pub mod inbound;
pub mod messenger;
pub mod sms;
pub mod wechat;
