//! A small typed client of the Telegram Bot API: the three methods the bot
//! uses (`getMe`, `getUpdates`, `sendMessage`), over the shared reqwest stack.
//!
//! The token is part of every request path (`/bot<token>/<method>`), so it is
//! kept out of everything else: reqwest errors are stripped of their URL (and
//! the message is scrubbed of the token once more, belt and braces) before they
//! become an [`ApiError`], whose text may then be logged or stored.

use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::config::telegram::BotToken;

/// Longest wait for a `sendMessage` or `getMe` answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Extra time a long poll gets beyond its own timeout before the client gives up.
const POLL_GRACE: Duration = Duration::from_secs(10);

/// A Bot API failure, safe to log and store: it never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The API could not be reached, or the exchange broke off.
    #[error("Telegram API unreachable: {0}")]
    Transport(String),
    /// The API answered with an error.
    #[error("Telegram API error {code}: {description}")]
    Api {
        /// `error_code` (the HTTP status).
        code: u16,
        /// What Telegram said.
        description: String,
        /// Seconds to wait before trying again (flood control), when given.
        retry_after: Option<u64>,
    },
    /// The answer was not the expected JSON.
    #[error("unreadable Telegram answer: {0}")]
    Decode(String),
}

impl ApiError {
    /// How long Telegram asked us to wait (a 429's `retry_after`).
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Api { retry_after: Some(secs), .. } => Some(Duration::from_secs(*secs)),
            Self::Api { code: 429, .. } => Some(Duration::from_secs(1)),
            _ => None,
        }
    }

    /// Whether trying again cannot help: the chat is gone, the bot was blocked
    /// or removed, or the request itself is wrong (4xx other than 429).
    #[must_use]
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Api { code, .. } if (400..500).contains(code) && *code != 429)
    }

    /// Whether the token was refused (401 or 404 on every method).
    #[must_use]
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Self::Api { code: 401 | 404, .. })
    }
}

/// The Bot API's answer envelope.
#[derive(Deserialize)]
struct Envelope {
    ok: bool,
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    error_code: Option<u16>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<Parameters>,
}

#[derive(Deserialize)]
struct Parameters {
    #[serde(default)]
    retry_after: Option<u64>,
}

/// An incoming update; only messages are asked for.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Update {
    /// Increasing id; the next poll's offset is the last one plus one.
    pub update_id: i64,
    /// A new message, if that is what the update is.
    #[serde(default)]
    pub message: Option<Message>,
}

/// A message sent to the bot (or in a group it is in).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Message {
    /// Id within the chat.
    pub message_id: i64,
    /// Where it was sent.
    pub chat: Chat,
    /// Who sent it (absent for channel posts).
    #[serde(default)]
    pub from: Option<User>,
    /// Its text, for text messages.
    #[serde(default)]
    pub text: Option<String>,
}

/// A chat.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Chat {
    /// Unique id (negative for groups and channels).
    pub id: i64,
    /// `private`, `group`, `supergroup` or `channel`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Groups: the title.
    #[serde(default)]
    pub title: Option<String>,
    /// `@username`, when set.
    #[serde(default)]
    pub username: Option<String>,
    /// Private chats: the user's first name.
    #[serde(default)]
    pub first_name: Option<String>,
}

impl Chat {
    /// A name to show: the title, else `@username`, else the first name.
    #[must_use]
    pub fn display_name(&self) -> Option<String> {
        self.title
            .clone()
            .or_else(|| self.username.as_ref().map(|u| format!("@{u}")))
            .or_else(|| self.first_name.clone())
    }

    /// Whether this is a one-to-one chat with a user.
    #[must_use]
    pub fn is_private(&self) -> bool {
        self.kind == "private"
    }
}

/// A user or bot.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct User {
    /// Unique id.
    pub id: i64,
    /// Whether it is a bot.
    #[serde(default)]
    pub is_bot: bool,
    /// `username`, without the `@`.
    #[serde(default)]
    pub username: Option<String>,
}

/// What `sendMessage` returns (only the id is kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct SentMessage {
    /// The message's id in its chat.
    pub message_id: i64,
}

/// The Bot API client; cheap to clone (clones share the connection pool).
#[derive(Clone)]
pub struct BotApi {
    http: reqwest::Client,
    base_url: String,
    token: BotToken,
}

impl std::fmt::Debug for BotApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotApi").field("base_url", &self.base_url).field("token", &self.token).finish()
    }
}

impl BotApi {
    /// A client of the API at `base_url` (e.g. `https://api.telegram.org`).
    ///
    /// # Errors
    /// [`ApiError::Transport`] when the HTTP client cannot be built (no TLS backend).
    pub fn new(base_url: &str, token: BotToken) -> Result<Self, ApiError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("finstage/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(4)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| ApiError::Transport(token.redact(&describe(&e.without_url()))))?;
        Ok(Self { http, base_url: base_url.trim_end_matches('/').to_owned(), token })
    }

    /// The bot itself (checks the token).
    ///
    /// # Errors
    /// [`ApiError`] when the call fails.
    pub async fn get_me(&self) -> Result<User, ApiError> {
        self.call("getMe", &json!({}), REQUEST_TIMEOUT).await
    }

    /// Updates from `offset` on, waiting up to `timeout_secs` for the first
    /// (long polling). Calling with an offset confirms every earlier update.
    /// An update that cannot be read is returned without its message, so that
    /// it is skipped rather than blocking the ones after it.
    ///
    /// # Errors
    /// [`ApiError`] when the call fails.
    pub async fn get_updates(&self, offset: i64, timeout_secs: u64) -> Result<Vec<Update>, ApiError> {
        let body = json!({ "offset": offset, "timeout": timeout_secs, "allowed_updates": ["message"] });
        let raw: Vec<Value> = self.call("getUpdates", &body, Duration::from_secs(timeout_secs) + POLL_GRACE).await?;
        let mut updates = Vec::with_capacity(raw.len());
        for value in raw {
            let update_id = value.get("update_id").and_then(Value::as_i64);
            match (serde_json::from_value::<Update>(value), update_id) {
                (Ok(update), _) => updates.push(update),
                (Err(e), Some(update_id)) => {
                    tracing::warn!(update_id, error = %e, "skipping an unreadable Telegram update");
                    updates.push(Update { update_id, message: None });
                }
                (Err(e), None) => return Err(ApiError::Decode(format!("update without an id: {e}"))),
            }
        }
        Ok(updates)
    }

    /// Sends `text` as plain text (no parse mode: nothing needs escaping), with
    /// link previews off.
    ///
    /// # Errors
    /// [`ApiError`] when the call fails; a 429 carries `retry_after`.
    pub async fn send_message(&self, chat_id: i64, text: &str) -> Result<SentMessage, ApiError> {
        let body = json!({ "chat_id": chat_id, "text": text, "link_preview_options": { "is_disabled": true } });
        self.call("sendMessage", &body, REQUEST_TIMEOUT).await
    }

    async fn call<T: DeserializeOwned>(&self, method: &str, body: &Value, timeout: Duration) -> Result<T, ApiError> {
        let url = format!("{}/bot{}/{method}", self.base_url, self.token.expose());
        let response = self
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.transport(e))?;
        let envelope: Envelope = match serde_json::from_slice(&bytes) {
            Ok(envelope) => envelope,
            // A proxy's HTML error page, say: keep the status, which tells retryable from not.
            Err(_) if !status.is_success() => {
                return Err(ApiError::Api {
                    code: status.as_u16(),
                    description: format!("HTTP {status} without a Bot API answer"),
                    retry_after: None,
                });
            }
            Err(e) => return Err(ApiError::Decode(format!("{method}: {e}"))),
        };
        if !envelope.ok {
            return Err(ApiError::Api {
                code: envelope.error_code.unwrap_or_else(|| status.as_u16()),
                description: self.token.redact(envelope.description.as_deref().unwrap_or("no description")),
                retry_after: envelope.parameters.and_then(|p| p.retry_after),
            });
        }
        let result = envelope.result.ok_or_else(|| ApiError::Decode(format!("{method}: ok without a result")))?;
        serde_json::from_value(result).map_err(|e| ApiError::Decode(format!("{method}: {e}")))
    }

    fn transport(&self, e: reqwest::Error) -> ApiError {
        let timed_out = e.is_timeout();
        let text = self.token.redact(&describe(&e.without_url()));
        ApiError::Transport(if timed_out { format!("timed out ({text})") } else { text })
    }
}

/// An error with its chain of causes, on one line.
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_classify() {
        let flood = ApiError::Api { code: 429, description: "Too Many Requests".into(), retry_after: Some(3) };
        assert_eq!(flood.retry_after(), Some(Duration::from_secs(3)));
        assert!(!flood.is_permanent());
        let blocked = ApiError::Api { code: 403, description: "Forbidden".into(), retry_after: None };
        assert!(blocked.is_permanent() && blocked.retry_after().is_none());
        assert!(!ApiError::Api { code: 502, description: String::new(), retry_after: None }.is_permanent());
        assert!(!ApiError::Transport("reset".into()).is_permanent());
    }

    #[tokio::test]
    async fn transport_errors_do_not_carry_the_token() {
        // Nothing listens on port 9 of the loopback: the connection is refused.
        let api = BotApi::new("http://127.0.0.1:9", BotToken::new("42:tokensecret")).unwrap();
        let err = api.send_message(1, "hi").await.unwrap_err();
        assert!(matches!(err, ApiError::Transport(_)), "{err:?}");
        assert!(!err.to_string().contains("tokensecret"), "{err}");
        assert!(!format!("{api:?}").contains("tokensecret"));
    }
}
