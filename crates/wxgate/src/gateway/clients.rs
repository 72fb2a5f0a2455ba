//! Who may use the API gateway: `WXGATE_API_TOKEN` (one client, `default`, every API) and the
//! config file's `[[api_clients]]`:
//!
//! ```toml
//! [[api_clients]]
//! name = "shop"                       # in logs and metrics
//! token = "…at least 24 characters…"
//! allow = ["cgi-bin/message/template/", "cgi-bin/user/"]   # path prefixes; omit: every API
//! reveal_token = false                # true: may read the access_token at GET /api/token
//! ```
//!
//! Tokens are kept only as SHA-256 digests and compared in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{ConfigError, error};

/// Shortest accepted client token.
pub const MIN_TOKEN_LEN: usize = 24;

/// One program allowed to use the gateway.
#[derive(Clone)]
pub struct ApiClient {
    /// `[a-z0-9_-]`, at most 32 characters: it is a metric label.
    pub name: String,
    digest: [u8; 32],
    /// Path prefixes it may call (without a leading slash); `None`: every API.
    pub allow: Option<Vec<String>>,
    /// Whether `GET /api/token` answers it.
    pub reveal_token: bool,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("name", &self.name)
            .field("allow", &self.allow)
            .field("reveal_token", &self.reveal_token)
            .finish_non_exhaustive()
    }
}

impl ApiClient {
    /// Whether this client may call `path` (no leading slash).
    pub fn allows(&self, path: &str) -> bool {
        self.allow
            .as_ref()
            .is_none_or(|prefixes| prefixes.iter().any(|p| path.starts_with(p.as_str())))
    }
}

/// Every client; empty: the gateway is off.
#[derive(Clone, Debug, Default)]
pub struct ApiClients(Vec<ApiClient>);

impl ApiClients {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|c| c.name.as_str())
    }

    /// The client whose token is `presented`. Every client's digest is compared, in constant
    /// time, so the answer's timing says nothing about which one nearly matched.
    pub fn authenticate(&self, presented: &str) -> Option<&ApiClient> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for client in &self.0 {
            if bool::from(client.digest.ct_eq(&digest)) {
                found = Some(client);
            }
        }
        found
    }

    /// From `WXGATE_API_TOKEN` (`env_token`) and the file's `[[api_clients]]` (`tables`).
    pub fn from_config(
        env_token: Option<&str>,
        tables: &[toml::Value],
    ) -> Result<Self, ConfigError> {
        let mut clients = Vec::new();
        if let Some(token) = env_token {
            check_token("api_token", token)?;
            clients.push(ApiClient {
                name: "default".into(),
                digest: Sha256::digest(token.as_bytes()).into(),
                allow: None,
                reveal_token: false,
            });
        }
        for (i, table) in tables.iter().enumerate() {
            clients.push(parse_client(i, table)?);
        }
        for (i, c) in clients.iter().enumerate() {
            if let Some(other) = clients[..i].iter().find(|o| o.name == c.name) {
                return Err(error(
                    "",
                    format!(
                        "api_clients: the name {:?} is used twice (WXGATE_API_TOKEN's client is named \"default\")",
                        other.name
                    ),
                ));
            }
            if clients[..i].iter().any(|o| o.digest == c.digest) {
                return Err(error(
                    "",
                    format!(
                        "api_clients: {:?} has the same token as another client: give each program its own",
                        c.name
                    ),
                ));
            }
        }
        Ok(ApiClients(clients))
    }
}

fn check_token(key: &str, token: &str) -> Result<(), ConfigError> {
    if token.chars().count() < MIN_TOKEN_LEN {
        return Err(error(
            key,
            format!("must be at least {MIN_TOKEN_LEN} characters (try: openssl rand -hex 24)"),
        ));
    }
    Ok(())
}

fn parse_client(i: usize, table: &toml::Value) -> Result<ApiClient, ConfigError> {
    let at =
        |field: &str, message: String| error("", format!("api_clients[{i}].{field}: {message}"));
    let toml::Value::Table(table) = table else {
        return Err(error(
            "",
            "api_clients must be an array of tables: [[api_clients]]",
        ));
    };
    for key in table.keys() {
        if !["name", "token", "allow", "reveal_token"].contains(&key.as_str()) {
            return Err(at(
                key,
                "unknown field (expected name, token, allow, reveal_token)".into(),
            ));
        }
    }
    let name = match table.get("name") {
        Some(toml::Value::String(s)) => s.trim().to_owned(),
        _ => {
            return Err(at(
                "name",
                "is required: a short name for logs and metrics".into(),
            ));
        }
    };
    if name.is_empty()
        || name.len() > 32
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(at(
            "name",
            format!("{name:?}: use 1 to 32 of a-z, 0-9, - and _"),
        ));
    }
    let token = match table.get("token") {
        Some(toml::Value::String(s)) => s.trim().to_owned(),
        _ => return Err(at("token", "is required".into())),
    };
    if token.chars().count() < MIN_TOKEN_LEN {
        return Err(at(
            "token",
            format!("must be at least {MIN_TOKEN_LEN} characters (try: openssl rand -hex 24)"),
        ));
    }
    let allow = match table.get("allow") {
        None => None,
        Some(toml::Value::Array(items)) => {
            let mut prefixes = Vec::new();
            for item in items {
                let toml::Value::String(p) = item else {
                    return Err(at(
                        "allow",
                        "must be a list of path prefixes (strings)".into(),
                    ));
                };
                let p = p.trim().trim_start_matches('/');
                if p.is_empty() || super::check_path(p).is_err() {
                    return Err(at(
                        "allow",
                        format!("{p:?} is not an API path prefix like \"cgi-bin/user/\""),
                    ));
                }
                prefixes.push(p.to_owned());
            }
            Some(prefixes)
        }
        Some(_) => return Err(at("allow", "must be a list of path prefixes".into())),
    };
    let reveal_token = match table.get("reveal_token") {
        None => false,
        Some(toml::Value::Boolean(b)) => *b,
        Some(_) => return Err(at("reveal_token", "must be true or false".into())),
    };
    Ok(ApiClient {
        name,
        digest: Sha256::digest(token.as_bytes()).into(),
        allow,
        reveal_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(text: &str) -> Vec<toml::Value> {
        let table: toml::Table = text.parse().unwrap();
        match table.get("api_clients") {
            Some(toml::Value::Array(a)) => a.clone(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn clients_come_from_the_environment_and_the_file() {
        let c = ApiClients::from_config(
            Some("e".repeat(24).as_str()),
            &tables(
                r#"
                [[api_clients]]
                name = "data-job"
                token = "dddddddddddddddddddddddd"
                allow = ["/cgi-bin/user/", "cgi-bin/tags/"]
                [[api_clients]]
                name = "sdk"
                token = "ssssssssssssssssssssssss"
                reveal_token = true
                "#,
            ),
        )
        .unwrap();
        assert_eq!(
            c.names().collect::<Vec<_>>(),
            ["default", "data-job", "sdk"]
        );
        let job = c.authenticate("dddddddddddddddddddddddd").unwrap();
        assert!(job.allows("cgi-bin/user/info"));
        assert!(!job.allows("cgi-bin/message/template/send"));
        assert!(!job.reveal_token);
        assert!(
            c.authenticate("ssssssssssssssssssssssss")
                .unwrap()
                .reveal_token
        );
        assert!(c.authenticate(&"e".repeat(24)).unwrap().allows("anything"));
        assert!(c.authenticate("nope").is_none());
        assert!(format!("{c:?}").contains("data-job"));
        assert!(!format!("{c:?}").contains("dddd"), "Debug shows no token");
    }

    #[test]
    fn bad_clients_are_named_in_the_error() {
        let e = |text: &str| {
            ApiClients::from_config(None, &tables(text))
                .unwrap_err()
                .to_string()
        };
        assert!(
            e("[[api_clients]]\nname = \"a\"\ntoken = \"short\"")
                .contains("api_clients[0].token: must be at least 24")
        );
        assert!(
            e("[[api_clients]]\ntoken = \"xxxxxxxxxxxxxxxxxxxxxxxx\"")
                .contains("api_clients[0].name: is required")
        );
        assert!(
            e("[[api_clients]]\nname = \"Shop Backend\"\ntoken = \"xxxxxxxxxxxxxxxxxxxxxxxx\"")
                .contains("a-z, 0-9")
        );
        assert!(e("[[api_clients]]\nname = \"a\"\ntoken = \"xxxxxxxxxxxxxxxxxxxxxxxx\"\nallow = [\"../x\"]").contains("api_clients[0].allow"));
        assert!(
            e("[[api_clients]]\nname = \"a\"\ntoken = \"xxxxxxxxxxxxxxxxxxxxxxxx\"\nreveal = true")
                .contains("unknown field")
        );
        assert!(e("[[api_clients]]\nname = \"a\"\ntoken = \"xxxxxxxxxxxxxxxxxxxxxxxx\"\n[[api_clients]]\nname = \"a\"\ntoken = \"yyyyyyyyyyyyyyyyyyyyyyyy\"").contains("used twice"));
        assert!(e("[[api_clients]]\nname = \"a\"\ntoken = \"xxxxxxxxxxxxxxxxxxxxxxxx\"\n[[api_clients]]\nname = \"b\"\ntoken = \"xxxxxxxxxxxxxxxxxxxxxxxx\"").contains("same token"));
        assert!(
            ApiClients::from_config(Some("short"), &[])
                .unwrap_err()
                .to_string()
                .contains("WXGATE_API_TOKEN")
        );
    }
}
