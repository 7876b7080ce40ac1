//! Adapters: kefu's ports implemented on AWS (DynamoDB, SQS, SSM Parameter Store) and on the channels' HTTP
//! APIs, plus the small pieces every Lambda entry point shares (configuration, SQS batch handling).
//!
//! Everything reaches AWS through the standard configuration chain (`AWS_ENDPOINT_URL`, `AWS_REGION`,
//! credentials), so the same code runs against AWS, moto and LocalStack.

pub mod config;
pub mod dynamo;
pub mod edge;
pub mod messenger_api;
pub mod outbound;
pub mod runtime;
pub mod sms_api;
pub mod sqs;
pub mod ssm;
pub mod token_call;
pub mod webchat;
pub mod wechat_api;
pub mod wecom_api;

pub use config::{Clients, Env};
