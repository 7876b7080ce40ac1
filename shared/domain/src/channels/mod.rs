pub mod inbound;
pub mod messenger;
pub mod sms;
pub mod webchat;
pub mod wechat;
pub mod wecom;
