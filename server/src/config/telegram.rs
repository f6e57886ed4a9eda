//! The `[telegram]` section of the configuration, and the bot token that must
//! never be shown.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ConfigError;

/// The Telegram bot (section `telegram`). It runs when `enabled` is true, or
/// when `enabled` is left unset and a token is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramConfig {
    /// Run the bot; unset means "when a token is set".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The token @BotFather gave. Secret: its `Debug`, `Display` and `Serialize`
    /// print a placeholder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<BotToken>,
    /// Base URL of the Bot API, without the `/bot<token>` part.
    pub api_url: String,
    /// How long one `getUpdates` long poll waits for news, seconds.
    pub poll_timeout_secs: u64,
    /// Least time between two messages to one chat, ms.
    pub per_chat_interval_ms: u64,
    /// Most messages in any one second over all chats.
    pub global_per_second: u32,
    /// How long a delivery's claim on a chat's messages lasts, ms. A live
    /// delivery renews it every third of this; a dead process's claims lapse
    /// within this time and another delivery takes the messages over.
    pub claim_lease_ms: u64,
    /// Chats allowed without a link code (their numeric ids); a list or a
    /// comma-separated string.
    #[serde(deserialize_with = "chat_list")]
    pub allowed_chats: Vec<i64>,
}

impl Default for TelegramConfig {
    fn default() -> Self {
        Self {
            enabled: None,
            token: None,
            api_url: "https://api.telegram.org".into(),
            poll_timeout_secs: 30,
            per_chat_interval_ms: 1_000,
            global_per_second: 30,
            claim_lease_ms: 10_000,
            allowed_chats: Vec::new(),
        }
    }
}

impl TelegramConfig {
    /// Whether the bot runs: `enabled`, or when unset, whether a token is set.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.enabled.unwrap_or(self.token.is_some())
    }

    /// Checks the section; errors name the key (`telegram.token`, ...).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for the first unacceptable value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, message: &str| Err(ConfigError::Invalid { key, message: message.into() });
        if let Some(token) = &self.token
            && !token.is_well_formed()
        {
            // Never repeat the value: it is a secret even when mistyped.
            return invalid("telegram.token", "is not a bot token (expected digits, a colon, then letters)");
        }
        if self.is_enabled() && self.token.is_none() {
            return invalid("telegram.token", "the bot is enabled but no token is set (FINSTAGE_TELEGRAM__TOKEN)");
        }
        if !(self.api_url.starts_with("http://") || self.api_url.starts_with("https://")) {
            return Err(ConfigError::Invalid {
                key: "telegram.api_url",
                message: format!("`{}` is not an http(s) URL", self.api_url),
            });
        }
        if !(1..=300).contains(&self.poll_timeout_secs) {
            return invalid("telegram.poll_timeout_secs", "must be in 1..=300");
        }
        if self.per_chat_interval_ms > 60_000 {
            return invalid("telegram.per_chat_interval_ms", "must be at most 60000");
        }
        if !(1..=1_000).contains(&self.global_per_second) {
            return invalid("telegram.global_per_second", "must be in 1..=1000");
        }
        if !(300..=300_000).contains(&self.claim_lease_ms) {
            return invalid("telegram.claim_lease_ms", "must be in 300..=300000");
        }
        Ok(())
    }
}

/// A bot token. It is only ever read by the API client, to build request
/// paths; everything else sees `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct BotToken(String);

impl BotToken {
    /// Wraps a token.
    #[must_use]
    pub fn new(token: &str) -> Self {
        Self(token.trim().to_owned())
    }

    /// The token itself, for the request path only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `123456:ABC-def_...`: a numeric bot id, a colon, then a non-empty secret
    /// of URL-safe characters (anything else could not be put in a path as is).
    #[must_use]
    pub fn is_well_formed(&self) -> bool {
        self.0.split_once(':').is_some_and(|(id, secret)| {
            !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_digit())
                && !secret.is_empty()
                && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
    }

    /// Replaces every occurrence of the token in `text` (an error message that
    /// may quote a URL) with `***`.
    #[must_use]
    pub fn redact(&self, text: &str) -> String {
        if self.0.is_empty() { text.to_owned() } else { text.replace(&self.0, "***") }
    }
}

impl fmt::Debug for BotToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BotToken(***)")
    }
}

impl fmt::Display for BotToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for BotToken {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("***")
    }
}

impl<'de> Deserialize<'de> for BotToken {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // The error for a value of the wrong type must not quote it either.
        let text =
            String::deserialize(deserializer).map_err(|_| serde::de::Error::custom("a bot token must be a string"))?;
        Ok(Self::new(&text))
    }
}

/// Chat ids as a list or a comma-separated string (the natural form in an
/// environment variable).
fn chat_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        One(i64),
        Text(String),
        Many(Vec<i64>),
    }
    match Raw::deserialize(deserializer)? {
        Raw::One(id) => Ok(vec![id]),
        Raw::Many(ids) => Ok(ids),
        Raw::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<i64>().map_err(|_| serde::de::Error::custom(format!("`{s}` is not a chat id"))))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use figment::Figment;
    use figment::providers::{Format, Serialized, Toml};

    use super::*;
    use crate::config::Config;

    fn load(toml: &str) -> Result<Config, ConfigError> {
        Config::from_figment(&Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(toml)))
    }

    #[test]
    fn off_by_default_and_on_with_a_token() {
        let config = load("").unwrap();
        assert!(!config.telegram.is_enabled());
        assert_eq!(config.telegram.api_url, "https://api.telegram.org");
        assert_eq!((config.telegram.per_chat_interval_ms, config.telegram.global_per_second), (1_000, 30));
        assert_eq!(config.telegram.claim_lease_ms, 10_000);
        let config = load("[telegram]\ntoken = \"123:abc_DEF-9\"\nallowed_chats = \"5, -100200\"").unwrap();
        assert!(config.telegram.is_enabled());
        assert_eq!(config.telegram.allowed_chats, [5, -100_200]);
        let config = load("[telegram]\ntoken = \"123:abc\"\nenabled = false").unwrap();
        assert!(!config.telegram.is_enabled());
    }

    #[test]
    fn the_token_is_never_shown() {
        let config = load("[telegram]\ntoken = \"123:supersecret\"").unwrap();
        let token = config.telegram.token.clone().unwrap();
        assert_eq!(token.expose(), "123:supersecret");
        for shown in [
            format!("{config:?}"),
            format!("{token}"),
            serde_json::to_string(&config).unwrap(),
            token.redact("GET http://x/bot123:supersecret/getMe failed"),
        ] {
            assert!(!shown.contains("supersecret"), "{shown}");
        }
    }

    #[test]
    fn errors_name_the_key_without_the_token() {
        let cases = [
            ("[telegram]\nenabled = true", "telegram.token"),
            ("[telegram]\ntoken = \"not a token hunter2\"", "telegram.token"),
            ("[telegram]\ntoken = \"1:a\"\napi_url = \"ftp://x\"", "telegram.api_url"),
            ("[telegram]\npoll_timeout_secs = 0", "telegram.poll_timeout_secs"),
            ("[telegram]\nglobal_per_second = 0", "telegram.global_per_second"),
            ("[telegram]\nclaim_lease_ms = 100", "telegram.claim_lease_ms"),
            ("[telegram]\nallowed_chats = \"12,abc\"", "telegram.allowed_chats"),
            ("[telegram]\nspeed = 1", "speed"),
        ];
        for (toml, key) in cases {
            let err = load(toml).unwrap_err().to_string();
            assert!(err.contains(key), "error for {toml:?} should name `{key}`: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }
}
