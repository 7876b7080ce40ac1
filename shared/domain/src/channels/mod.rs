pub mod inbound;
pub mod wechat;
