//! Bearer-token authentication: which role (ingest, admin, consumer, metrics) a call needs,
//! and whether the `authorization: Bearer <token>` it carries grants that role. Tokens are
//! kept as SHA-256 digests and compared in constant time; a role without tokens is open.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::AuthSettings;

/// Who may call what: each gRPC service (and `/metrics`) needs one role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `bucketbus.v1.Ingest`: storage nodes publishing records.
    Ingest,
    /// `bucketbus.v1.Admin`: operators managing rules and queues.
    Admin,
    /// `bucketbus.v1.Queue`: consumers receiving queue messages.
    Consumer,
    /// `GET /metrics` on the HTTP listener: Prometheus.
    Metrics,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Ingest, Role::Admin, Role::Consumer, Role::Metrics];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Admin => "admin",
            Role::Consumer => "consumer",
            Role::Metrics => "metrics",
        }
    }

    /// "an ingest token", "a consumer token".
    fn token_phrase(self) -> String {
        let article = match self {
            Role::Ingest | Role::Admin => "an",
            Role::Consumer | Role::Metrics => "a",
        };
        format!("{article} {} token", self.as_str())
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a call was refused. The messages never contain the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// No `authorization` header: UNAUTHENTICATED.
    #[error("missing credentials: this call needs {} (authorization: Bearer <token>)", .required.token_phrase())]
    Missing { required: Role },
    /// An `authorization` header that is not `Bearer <token>`: UNAUTHENTICATED.
    #[error("malformed authorization header: expected \"Bearer <token>\"")]
    Malformed,
    /// A token no role has: UNAUTHENTICATED.
    #[error("invalid bearer token")]
    Unknown,
    /// A valid token of other roles: PERMISSION_DENIED.
    #[error("this call needs {}; the token given is for {}", .required.token_phrase(), roles(.held))]
    WrongRole { required: Role, held: Vec<Role> },
}

fn roles(held: &[Role]) -> String {
    let names: Vec<&str> = held.iter().map(|r| r.as_str()).collect();
    names.join(" and ")
}

/// Checks bearer tokens against the configured tokens of each role.
#[derive(Clone)]
pub struct Authenticator {
    /// (role, SHA-256 of a token) for every configured token.
    digests: Vec<(Role, [u8; 32])>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())
    }
}

impl Authenticator {
    pub fn new(settings: &AuthSettings) -> Self {
        let digests = Role::ALL
            .into_iter()
            .flat_map(|role| {
                settings
                    .tokens(role)
                    .iter()
                    .map(move |token| (role, digest(token.expose().as_bytes())))
            })
            .collect();
        Self { digests }
    }

    /// Whether `role` needs no token (none is configured for it).
    pub fn is_open(&self, role: Role) -> bool {
        !self.digests.iter().any(|(r, _)| *r == role)
    }

    /// Which roles need a token, for the startup log: `ingest=token admin=open …`.
    pub fn summary(&self) -> String {
        let states: Vec<String> = Role::ALL
            .into_iter()
            .map(|role| {
                let state = if self.is_open(role) { "open" } else { "token" };
                format!("{role}={state}")
            })
            .collect();
        states.join(" ")
    }

    /// Whether a call needing `role`, carrying this `authorization` header value (if any), may
    /// proceed. Every configured token is compared, in constant time, whatever matches.
    pub fn check(&self, role: Role, authorization: Option<&[u8]>) -> Result<(), Denied> {
        if self.is_open(role) {
            return Ok(());
        }
        let header = authorization.ok_or(Denied::Missing { required: role })?;
        let token = bearer_token(header).ok_or(Denied::Malformed)?;
        let presented = digest(token);
        let mut held = [false; Role::ALL.len()];
        for (r, stored) in &self.digests {
            let matches: bool = presented.ct_eq(stored).into();
            held[*r as usize] |= matches;
        }
        if held[role as usize] {
            return Ok(());
        }
        let held: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| held[*r as usize])
            .collect();
        if held.is_empty() {
            Err(Denied::Unknown)
        } else {
            Err(Denied::WrongRole {
                required: role,
                held,
            })
        }
    }
}

fn digest(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

/// The token of `Bearer <token>` (the scheme is case-insensitive).
fn bearer_token(header: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = header.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    const INGEST: &str = "ingest-token-0123456789";
    const ADMIN: &str = "admin-token-0123456789";
    const SHARED: &str = "shared-token-0123456789";

    fn authenticator() -> Authenticator {
        let settings = Settings::from_toml(
            &format!(
                "[auth]\ningest_tokens = [\"{INGEST}\", \"{SHARED}\"]\n\
                 admin_tokens = [\"{ADMIN}\", \"{SHARED}\"]\n"
            ),
            "test",
        )
        .unwrap();
        Authenticator::new(&settings.auth)
    }

    fn bearer(token: &str) -> Vec<u8> {
        format!("Bearer {token}").into_bytes()
    }

    #[test]
    fn the_right_role_passes_and_others_are_told_which_role_is_needed() {
        let auth = authenticator();
        assert_eq!(auth.check(Role::Ingest, Some(&bearer(INGEST))), Ok(()));
        assert_eq!(auth.check(Role::Admin, Some(&bearer(ADMIN))), Ok(()));
        assert_eq!(auth.check(Role::Admin, Some(&bearer(SHARED))), Ok(()));
        assert_eq!(auth.check(Role::Ingest, Some(&bearer(SHARED))), Ok(()));
        let denied = auth.check(Role::Admin, Some(&bearer(INGEST))).unwrap_err();
        assert_eq!(
            denied,
            Denied::WrongRole {
                required: Role::Admin,
                held: vec![Role::Ingest]
            }
        );
        assert_eq!(
            denied.to_string(),
            "this call needs an admin token; the token given is for ingest"
        );
    }

    #[test]
    fn missing_malformed_and_unknown_tokens_are_refused_without_echoing_them() {
        let auth = authenticator();
        assert_eq!(
            auth.check(Role::Ingest, None),
            Err(Denied::Missing {
                required: Role::Ingest
            })
        );
        assert_eq!(
            auth.check(Role::Ingest, Some(format!("Basic {INGEST}").as_bytes())),
            Err(Denied::Malformed)
        );
        assert_eq!(
            auth.check(Role::Ingest, Some(b"Bearer   ")),
            Err(Denied::Malformed)
        );
        let wrong = "not-a-configured-token-42";
        let denied = auth.check(Role::Ingest, Some(&bearer(wrong))).unwrap_err();
        assert_eq!(denied, Denied::Unknown);
        assert!(!denied.to_string().contains(wrong));
        // A prefix of a valid token is not valid.
        assert_eq!(
            auth.check(Role::Ingest, Some(&bearer(&INGEST[..INGEST.len() - 1]))),
            Err(Denied::Unknown)
        );
        // The scheme is case-insensitive.
        assert_eq!(
            auth.check(Role::Ingest, Some(format!("bearer {INGEST}").as_bytes())),
            Ok(())
        );
    }

    #[test]
    fn roles_without_tokens_are_open() {
        let auth = authenticator();
        assert!(auth.is_open(Role::Consumer) && auth.is_open(Role::Metrics));
        assert_eq!(auth.check(Role::Consumer, None), Ok(()));
        assert_eq!(
            auth.summary(),
            "ingest=token admin=token consumer=open metrics=open"
        );
        let open = Authenticator::new(&Settings::defaults().auth);
        assert!(Role::ALL.into_iter().all(|r| open.is_open(r)));
    }
}
