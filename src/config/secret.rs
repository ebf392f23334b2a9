//! Settings that must never be printed: [`Secret`] (tokens, private keys) and [`DatabaseUrl`],
//! whose `Debug` and `Display` hide the password, so `Settings` can be logged or debug-printed
//! without leaking credentials.

use std::fmt;
use std::ops::Deref;

/// A value shown as `<redacted>` by `Debug`; read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret value itself, for the one place that needs it (never for messages).
    pub fn expose(&self) -> &T {
        &self.0
    }
}

/// Read from the config file like the value itself (tokens are `Secret<String>`).
impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Secret<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Secret::new)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The database URL. `Debug` and `Display` replace any password (in the user info or a
/// `password=` query parameter) with `***`; it derefs to the full URL for opening the store.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl Deref for DatabaseUrl {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<String> for DatabaseUrl {
    fn from(url: String) -> Self {
        Self(url)
    }
}

impl From<&str> for DatabaseUrl {
    fn from(url: &str) -> Self {
        Self(url.to_string())
    }
}

impl PartialEq<&str> for DatabaseUrl {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::store::redacted(&self.0))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({:?})", crate::store::redacted(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_database_passwords_are_not_printed() {
        let token = Secret::new("tok-0123456789abcdef".to_string());
        assert_eq!(format!("{token:?}"), "<redacted>");
        assert_eq!(token.expose(), "tok-0123456789abcdef");

        let url = DatabaseUrl::from("postgres://bb:hunter2-pw@db:5432/bb?sslmode=require");
        for shown in [format!("{url}"), format!("{url:?}")] {
            assert!(!shown.contains("hunter2-pw"), "{shown}");
            assert!(shown.contains("bb:***@db:5432/bb"), "{shown}");
        }
        assert_eq!(&*url, "postgres://bb:hunter2-pw@db:5432/bb?sslmode=require");

        let url = DatabaseUrl::from("postgres://db/bb?user=bb&password=hunter2-pw");
        let shown = format!("{url:?}");
        assert!(
            !shown.contains("hunter2-pw") && shown.contains("password=***"),
            "{shown}"
        );

        let url = DatabaseUrl::from("postgres://db/bb?sslmode=verify-full&sslpassword=key-pw");
        let shown = format!("{url:?}");
        assert!(
            !shown.contains("key-pw") && shown.contains("sslpassword=***"),
            "{shown}"
        );
    }

    #[test]
    fn debug_of_settings_shows_no_token_and_no_database_password() {
        let toml = r#"
            [storage]
            database = "postgres://bucketbus:db-password-123@db:5432/bucketbus"
            [auth]
            ingest_tokens = ["file-ingest-token-0001"]
            admin_tokens = ["file-admin-token-00001", "file-admin-token-00002"]
            metrics_tokens = ["file-metrics-token-001"]
        "#;
        let settings = crate::config::Settings::from_toml(toml, "test")
            .unwrap()
            .apply_env(|name| match name {
                crate::config::ENV_CONSUMER_TOKENS => Some("env-consumer-token-001".into()),
                crate::config::ENV_DATABASE => {
                    Some("postgres://bb:env-db-password@db/bb?password=env-query-pw".into())
                }
                _ => None,
            })
            .unwrap();
        assert_eq!(settings.auth.consumer.len(), 1);
        let shown = format!("{settings:?} {settings:#?}");
        for secret in [
            "db-password-123",
            "env-db-password",
            "env-query-pw",
            "file-ingest-token",
            "file-admin-token",
            "file-metrics-token",
            "env-consumer-token",
        ] {
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
        }
        assert!(
            shown.contains("postgres://bb:***@db/bb?password=***"),
            "{shown}"
        );
    }
}
