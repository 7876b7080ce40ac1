pub mod inbound;
pub mod messenger;
pub mod wechat;
