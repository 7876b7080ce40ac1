//! One call of a WeChat-family API (WeChat Official Account / Mini Program, WeCom): a JSON POST with
//! `?access_token=…` whose answer carries `errcode` / `errmsg`. A refused token (expired, or renewed by
//! someone else) is renewed once and the call repeated; every other code is mapped to a [`SendError`].

use async_trait::async_trait;
use kefu_domain::ports::SendError;
use serde::de::DeserializeOwned;

/// What an `errcode` means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrClass {
    Ok,
    /// The access token is invalid or expired: renew and retry once.
    Token,
    Retryable,
    Rejected,
    Misconfigured,
}

/// An API answer: its `errcode` and `errmsg`.
pub trait Reply: DeserializeOwned {
    fn errcode(&self) -> i64;
    fn errmsg(&self) -> &str;
}

/// Where a new access token comes from when the API refuses one.
#[async_trait]
pub trait TokenSource: Sync {
    /// A token other than `stale` (which the API just refused).
    async fn renewed(&self, stale: &str) -> Result<String, SendError>;
}

/// The API of one provider: where it is, how its codes read, how an unreachable API is reported.
pub struct Api<'a> {
    pub http: &'a reqwest::Client,
    pub classify: fn(i64) -> ErrClass,
    pub unreachable: fn(reqwest::Error) -> SendError,
}

impl Api<'_> {
    /// POSTs `body` to `url` with `token`; when the token is refused, `tokens` gives a new one and the call
    /// is made once more. `what` names the call in errors.
    pub async fn post_with_token<R: Reply>(
        &self,
        url: &str,
        what: &str,
        body: &serde_json::Value,
        mut token: String,
        tokens: &dyn TokenSource,
    ) -> Result<R, SendError> {
        for attempt in 0..2 {
            let reply: R = self
                .http
                .post(url)
                .query(&[("access_token", token.as_str())])
                .json(body)
                .send()
                .await
                .map_err(self.unreachable)?
                .json()
                .await
                .map_err(self.unreachable)?;
            let detail = || format!("{what} errcode {} {}", reply.errcode(), reply.errmsg());
            match (self.classify)(reply.errcode()) {
                ErrClass::Ok => return Ok(reply),
                ErrClass::Token if attempt == 0 => token = tokens.renewed(&token).await?,
                ErrClass::Token | ErrClass::Retryable => {
                    return Err(SendError::Retryable(detail()))
                }
                ErrClass::Rejected => return Err(SendError::Rejected(detail())),
                ErrClass::Misconfigured => return Err(SendError::Misconfigured(detail())),
            }
        }
        unreachable!("the loop returns on its second pass")
    }
}
