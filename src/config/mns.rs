//! The `[mns]` settings: whether the MNS-compatible REST API is served, on which listener, the
//! access keys its HMAC-SHA1 request signatures are checked against (plus one key pair from
//! `BUCKETBUS_MNS_ACCESS_KEY_ID` / `BUCKETBUS_MNS_ACCESS_KEY_SECRET`), and the clock skew a
//! request's Date may have.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::Error;
use super::secret::Secret;

pub const ENV_MNS_ACCESS_KEY_ID: &str = "BUCKETBUS_MNS_ACCESS_KEY_ID";
pub const ENV_MNS_ACCESS_KEY_SECRET: &str = "BUCKETBUS_MNS_ACCESS_KEY_SECRET";

/// One MNS access key: the id clients name in `Authorization: MNS <id>:<signature>` and the
/// secret both sides sign with.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKey {
    pub id: String,
    pub secret: Secret<String>,
}

#[derive(Debug, Clone)]
pub struct MnsSettings {
    pub enabled: bool,
    /// `None`: served on the HTTP listener (`server.http_listen`).
    pub listen: Option<SocketAddr>,
    pub access_keys: Vec<AccessKey>,
    /// How far a request's `Date` (or `x-mns-date`) may be from the broker's clock.
    pub max_clock_skew: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MnsFile {
    enabled: bool,
    listen: String,
    access_keys: Vec<AccessKey>,
    #[serde(with = "humantime_serde")]
    max_clock_skew: Duration,
}

impl MnsFile {
    pub(super) fn validate(self) -> Result<MnsSettings, Error> {
        let listen = match self.listen.trim() {
            "" => None,
            addr => Some(super::parse_addr("mns.listen", addr)?),
        };
        if self.max_clock_skew.is_zero() || self.max_clock_skew > Duration::from_secs(24 * 3600) {
            return Err(Error::Invalid {
                field: "mns.max_clock_skew",
                constraint: "must be longer than 0s and at most 24h (MNS: 15m)".into(),
            });
        }
        let mut keys: Vec<AccessKey> = Vec::with_capacity(self.access_keys.len());
        for (i, key) in self.access_keys.into_iter().enumerate() {
            check_key(&key, &format!("mns.access_keys[{i}]"))?;
            if keys.iter().any(|k| k.id == key.id) {
                return Err(Error::Invalid {
                    field: "mns.access_keys",
                    constraint: format!("access key id {:?} is listed twice", key.id),
                });
            }
            keys.push(key);
        }
        Ok(MnsSettings {
            enabled: self.enabled,
            listen,
            access_keys: keys,
            max_clock_skew: self.max_clock_skew,
        })
    }
}

impl MnsSettings {
    /// Adds the key pair from the environment (both variables or neither); an id already in
    /// the file gets the environment's secret.
    pub(super) fn apply_env(
        mut self,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        let id = env(ENV_MNS_ACCESS_KEY_ID).filter(|v| !v.trim().is_empty());
        let secret = env(ENV_MNS_ACCESS_KEY_SECRET).filter(|v| !v.trim().is_empty());
        let key = match (id, secret) {
            (None, None) => return Ok(self),
            (Some(id), Some(secret)) => AccessKey {
                id: id.trim().to_string(),
                secret: Secret::new(secret.trim().to_string()),
            },
            (Some(_), None) => {
                return Err(Error::Invalid {
                    field: "mns.access_keys",
                    constraint: format!(
                        "{ENV_MNS_ACCESS_KEY_ID} is set but {ENV_MNS_ACCESS_KEY_SECRET} is not"
                    ),
                });
            }
            (None, Some(_)) => {
                return Err(Error::Invalid {
                    field: "mns.access_keys",
                    constraint: format!(
                        "{ENV_MNS_ACCESS_KEY_SECRET} is set but {ENV_MNS_ACCESS_KEY_ID} is not"
                    ),
                });
            }
        };
        check_key(&key, ENV_MNS_ACCESS_KEY_ID)?;
        self.access_keys.retain(|k| k.id != key.id);
        self.access_keys.push(key);
        Ok(self)
    }
}

/// Ids are printable ASCII without `:` or spaces (the Authorization header splits on `:`);
/// secrets are at least 16 characters.
fn check_key(key: &AccessKey, field: &str) -> Result<(), Error> {
    let field: &'static str = if field.starts_with("mns.") {
        "mns.access_keys"
    } else {
        ENV_MNS_ACCESS_KEY_ID
    };
    let id_ok = !key.id.is_empty()
        && key.id.len() <= 128
        && key.id.bytes().all(|b| b.is_ascii_graphic() && b != b':');
    if !id_ok {
        return Err(Error::Invalid {
            field,
            constraint: format!(
                "access key id {:?} must be 1–128 printable ASCII characters without ':'",
                key.id
            ),
        });
    }
    if key.secret.expose().chars().count() < 16 {
        return Err(Error::Invalid {
            field,
            constraint: format!(
                "the secret of access key {:?} must be at least 16 characters",
                key.id
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn invalid(toml: &str) -> String {
        Settings::from_toml(toml, "t").unwrap_err().to_string()
    }

    #[test]
    fn served_on_the_http_listener_with_no_keys_by_default() {
        let s = Settings::defaults().mns;
        assert!(s.enabled);
        assert_eq!(s.listen, None);
        assert!(s.access_keys.is_empty());
        assert_eq!(s.max_clock_skew, Duration::from_secs(900));
    }

    #[test]
    fn keys_and_a_dedicated_listener_are_read() {
        let s = Settings::from_toml(
            "[mns]\nlisten = \"127.0.0.1:9001\"\n[[mns.access_keys]]\nid = \"AKID\"\nsecret = \"0123456789abcdef\"\n",
            "t",
        )
        .unwrap()
        .mns;
        assert_eq!(s.listen, Some("127.0.0.1:9001".parse().unwrap()));
        assert_eq!(s.access_keys[0].id, "AKID");
        assert_eq!(s.access_keys[0].secret.expose(), "0123456789abcdef");
        assert!(!format!("{s:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn bad_settings_name_the_field() {
        assert!(invalid("[mns]\nlisten = \"nowhere\"").contains("mns.listen"));
        assert!(invalid("[mns]\nmax_clock_skew = \"0s\"").contains("mns.max_clock_skew"));
        let short = "[[mns.access_keys]]\nid = \"A\"\nsecret = \"short\"";
        assert!(invalid(short).contains("at least 16"));
        let colon = "[[mns.access_keys]]\nid = \"A:B\"\nsecret = \"0123456789abcdef\"";
        assert!(invalid(colon).contains("without ':'"));
        let twice = "[[mns.access_keys]]\nid = \"A\"\nsecret = \"0123456789abcdef\"\n\
                     [[mns.access_keys]]\nid = \"A\"\nsecret = \"0123456789abcdeg\"";
        assert!(invalid(twice).contains("listed twice"));
    }

    #[test]
    fn the_environment_adds_one_key_pair_and_needs_both_variables() {
        let env = |id: Option<&'static str>, secret: Option<&'static str>| {
            move |name: &str| match name {
                ENV_MNS_ACCESS_KEY_ID => id.map(String::from),
                ENV_MNS_ACCESS_KEY_SECRET => secret.map(String::from),
                _ => None,
            }
        };
        let base = Settings::defaults().mns;
        let s = base
            .clone()
            .apply_env(&env(Some("ENVKEY"), Some("0123456789abcdef")))
            .unwrap();
        assert_eq!(s.access_keys.len(), 1);
        assert_eq!(s.access_keys[0].id, "ENVKEY");
        let err = base
            .clone()
            .apply_env(&env(Some("ENVKEY"), None))
            .unwrap_err();
        assert!(err.to_string().contains(ENV_MNS_ACCESS_KEY_SECRET));
        let unchanged = base.apply_env(&env(None, None)).unwrap();
        assert!(unchanged.access_keys.is_empty());
    }
}
