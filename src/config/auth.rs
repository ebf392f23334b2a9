//! The `[auth]` settings: bearer tokens per role, from the file or the `BUCKETBUS_*_TOKENS`
//! environment variables (comma-separated). Lists, so a token can be rotated by adding the new
//! one, moving clients over, then removing the old one. A role without tokens is open.

use serde::Deserialize;

use super::Error;
use super::secret::Secret;
use crate::auth::Role;

pub const ENV_INGEST_TOKENS: &str = "BUCKETBUS_INGEST_TOKENS";
pub const ENV_ADMIN_TOKENS: &str = "BUCKETBUS_ADMIN_TOKENS";
pub const ENV_CONSUMER_TOKENS: &str = "BUCKETBUS_CONSUMER_TOKENS";
pub const ENV_METRICS_TOKENS: &str = "BUCKETBUS_METRICS_TOKENS";

/// Tokens shorter than this are guessable; `openssl rand -hex 32` makes a good one.
const MIN_TOKEN_LEN: usize = 16;
const MAX_TOKEN_LEN: usize = 512;

/// The tokens of each role (empty: the role is open).
#[derive(Debug, Clone, Default)]
pub struct AuthSettings {
    pub ingest: Vec<Secret<String>>,
    pub admin: Vec<Secret<String>>,
    pub consumer: Vec<Secret<String>>,
    pub metrics: Vec<Secret<String>>,
}

impl AuthSettings {
    pub fn tokens(&self, role: Role) -> &[Secret<String>] {
        match role {
            Role::Ingest => &self.ingest,
            Role::Admin => &self.admin,
            Role::Consumer => &self.consumer,
            Role::Metrics => &self.metrics,
        }
    }

    /// Each `BUCKETBUS_*_TOKENS` variable that is set and not blank replaces the role's list
    /// (a blank one is ignored, so an unset variable templated as "" cannot turn auth off).
    pub(super) fn apply_env(
        mut self,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<AuthSettings, Error> {
        let slots = [
            (ENV_INGEST_TOKENS, &mut self.ingest),
            (ENV_ADMIN_TOKENS, &mut self.admin),
            (ENV_CONSUMER_TOKENS, &mut self.consumer),
            (ENV_METRICS_TOKENS, &mut self.metrics),
        ];
        for (name, slot) in slots {
            if let Some(value) = env(name).filter(|v| !v.trim().is_empty()) {
                let tokens = value
                    .split(',')
                    .map(|t| Secret::new(t.trim().to_string()))
                    .collect();
                *slot = checked(name, tokens)?;
            }
        }
        Ok(self)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuthFile {
    ingest_tokens: Vec<Secret<String>>,
    admin_tokens: Vec<Secret<String>>,
    consumer_tokens: Vec<Secret<String>>,
    metrics_tokens: Vec<Secret<String>>,
}

impl AuthFile {
    pub(super) fn validate(self) -> Result<AuthSettings, Error> {
        Ok(AuthSettings {
            ingest: checked("auth.ingest_tokens", self.ingest_tokens)?,
            admin: checked("auth.admin_tokens", self.admin_tokens)?,
            consumer: checked("auth.consumer_tokens", self.consumer_tokens)?,
            metrics: checked("auth.metrics_tokens", self.metrics_tokens)?,
        })
    }
}

/// Tokens are 16–512 visible ASCII characters without commas (they travel in an HTTP header
/// and in comma-separated variables). Errors say which token, never what it is.
fn checked(field: &'static str, tokens: Vec<Secret<String>>) -> Result<Vec<Secret<String>>, Error> {
    for (index, token) in tokens.iter().enumerate() {
        let token = token.expose();
        let constraint = if !(MIN_TOKEN_LEN..=MAX_TOKEN_LEN).contains(&token.len()) {
            format!(
                "token {} has {} characters; tokens must have {MIN_TOKEN_LEN}–{MAX_TOKEN_LEN}",
                index + 1,
                token.len()
            )
        } else if !token.bytes().all(|b| b.is_ascii_graphic() && b != b',') {
            format!(
                "token {} must be visible ASCII characters without spaces or commas",
                index + 1
            )
        } else {
            continue;
        };
        return Err(Error::Invalid { field, constraint });
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    const TOKEN: &str = "0123456789abcdef-admin";

    fn invalid(toml: &str) -> String {
        match Settings::from_toml(toml, "test") {
            Err(e @ Error::Invalid { .. }) => e.to_string(),
            other => panic!("expected an invalid setting, got {other:?}"),
        }
    }

    #[test]
    fn every_role_is_open_by_default() {
        let auth = Settings::defaults().auth;
        assert!(Role::ALL.into_iter().all(|r| auth.tokens(r).is_empty()));
    }

    #[test]
    fn bad_tokens_are_refused_naming_the_field_but_not_the_token() {
        let err = invalid("[auth]\nadmin_tokens = [\"0123456789abcdef\", \"short-secret\"]");
        assert_eq!(
            err,
            "invalid setting auth.admin_tokens: token 2 has 12 characters; tokens must have 16–512"
        );
        let err = invalid("[auth]\ningest_tokens = [\"0123456789 abcdef-secret\"]");
        assert!(err.starts_with("invalid setting auth.ingest_tokens: token 1 must be visible"));
        assert!(!err.contains("abcdef-secret"), "{err}");
    }

    #[test]
    fn env_variables_replace_a_roles_tokens_and_blank_ones_are_ignored() {
        let file =
            Settings::from_toml(&format!("[auth]\nadmin_tokens = [\"{TOKEN}\"]"), "t").unwrap();
        let s = file
            .clone()
            .apply_env(|name| match name {
                ENV_CONSUMER_TOKENS => {
                    Some(" consumer-token-000001 , consumer-token-000002".into())
                }
                ENV_ADMIN_TOKENS => Some("  ".into()),
                _ => None,
            })
            .unwrap();
        let consumer: Vec<&str> = s
            .auth
            .consumer
            .iter()
            .map(|t| t.expose().as_str())
            .collect();
        assert_eq!(consumer, ["consumer-token-000001", "consumer-token-000002"]);
        assert_eq!(
            s.auth.admin.len(),
            1,
            "a blank variable keeps the file's tokens"
        );
        let err = file
            .apply_env(|name| (name == ENV_INGEST_TOKENS).then(|| "tiny".to_string()))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid setting BUCKETBUS_INGEST_TOKENS: token 1 has 4 characters; tokens must have 16–512"
        );
    }
}
