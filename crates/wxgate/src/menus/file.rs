//! Menu files: the application's way of writing a menu down — TOML (`[[button]]` tables) or
//! WeChat's own JSON, chosen by the file's extension — read strictly: a misspelt field is an
//! error naming its path, not silently ignored. The menu itself, its limits and diff are the
//! protocol's (`wechat::menu`).

use std::path::Path;

use wechat::menu::Menu;

/// The syntax of a menu file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MenuFormat {
    /// `[[button]]` tables with `[[button.sub_button]]`, same field names as the JSON.
    Toml,
    /// WeChat's own `{"button":[…]}`.
    Json,
}

impl MenuFormat {
    /// By extension: `.json` (any letter case) is JSON, anything else (`.toml`, no extension)
    /// is read as TOML, whose parse error then says so.
    pub fn from_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("json") => Self::Json,
            _ => Self::Toml,
        }
    }
}

/// Parses a menu file. Syntax errors carry the parser's line and column; misspelt field names
/// (`subbutton`, `types`…) are errors with their path rather than silently ignored. This does
/// not check WeChat's limits: call [`validate`] next.
pub fn parse_menu_file(text: &str, kind: MenuFormat) -> Result<Menu, String> {
    let value: serde_json::Value = match kind {
        MenuFormat::Toml => toml::from_str(text).map_err(|e| format!("invalid TOML: {e}"))?,
        MenuFormat::Json => serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?,
    };
    check_known_fields(&value)?;
    match kind {
        MenuFormat::Toml => toml::from_str(text).map_err(|e| format!("invalid menu: {e}")),
        MenuFormat::Json => serde_json::from_str(text).map_err(|e| format!("invalid menu: {e}")),
    }
}

const MENU_FIELDS: &[&str] = &["button", "matchrule"];
const BUTTON_FIELDS: &[&str] = &[
    "name",
    "type",
    "key",
    "url",
    "media_id",
    "appid",
    "pagepath",
    "article_id",
    "sub_button",
];
const MATCHRULE_FIELDS: &[&str] = &[
    "tag_id",
    "client_platform_type",
    "sex",
    "country",
    "province",
    "city",
    "language",
    "group_id",
];

fn check_known_fields(value: &serde_json::Value) -> Result<(), String> {
    use serde_json::Value;
    fn unknown(
        object: &serde_json::Map<String, Value>,
        allowed: &[&str],
        path: &str,
        out: &mut Vec<String>,
    ) {
        for key in object.keys() {
            if !allowed.contains(&key.as_str()) {
                let at = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                out.push(format!(
                    "{at}: unknown field (known: {})",
                    allowed.join(", ")
                ));
            }
        }
    }
    fn buttons(value: Option<&Value>, path: &str, out: &mut Vec<String>) {
        let Some(Value::Array(list)) = value else {
            return;
        };
        for (i, b) in list.iter().enumerate() {
            if let Value::Object(o) = b {
                let path = format!("{path}[{i}]");
                unknown(o, BUTTON_FIELDS, &path, out);
                buttons(o.get("sub_button"), &format!("{path}.sub_button"), out);
            }
        }
    }
    let Value::Object(top) = value else {
        return Err("a menu must be an object with a \"button\" list".into());
    };
    let mut out = Vec::new();
    if top.contains_key("menu") && !top.contains_key("button") {
        return Err(
            "this looks like menu/get output: use the object inside \"menu\" (its \"button\" list)"
                .into(),
        );
    }
    unknown(top, MENU_FIELDS, "", &mut out);
    buttons(top.get("button"), "button", &mut out);
    if let Some(Value::Object(rule)) = top.get("matchrule") {
        unknown(rule, MATCHRULE_FIELDS, "matchrule", &mut out);
    }
    if out.is_empty() {
        Ok(())
    } else {
        Err(out.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_toml_with_the_same_names_give_the_same_menu() {
        let json = r#"{"button":[
            {"type":"click","name":"今日歌曲","key":"V1001_TODAY_MUSIC"},
            {"name":"菜单","sub_button":[
                {"type":"view","name":"搜索","url":"http://www.soso.com/"},
                {"type":"miniprogram","name":"wxa","url":"http://mp.weixin.qq.com",
                 "appid":"wx286b93c14bbf93aa","pagepath":"pages/lunar/index"}]}],
            "matchrule":{"tag_id":"2","client_platform_type":2}}"#;
        let toml = r#"
            [[button]]
            type = "click"
            name = "今日歌曲"
            key = "V1001_TODAY_MUSIC"

            [[button]]
            name = "菜单"
            [[button.sub_button]]
            type = "view"
            name = "搜索"
            url = "http://www.soso.com/"
            [[button.sub_button]]
            type = "miniprogram"
            name = "wxa"
            url = "http://mp.weixin.qq.com"
            appid = "wx286b93c14bbf93aa"
            pagepath = "pages/lunar/index"

            [matchrule]
            tag_id = "2"
            client_platform_type = 2
        "#;
        let a = parse_menu_file(json, MenuFormat::Json).unwrap();
        let b = parse_menu_file(toml, MenuFormat::Toml).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            a.matchrule
                .as_ref()
                .unwrap()
                .client_platform_type
                .as_deref(),
            Some("2")
        );
        assert_eq!(wechat::menu::validate(&a), Ok(()));
        // Serializing gives WeChat's shape back: `type`, no empty sub_button, no nulls.
        let out = serde_json::to_value(&a).unwrap();
        assert_eq!(out["button"][0]["type"], "click");
        assert!(out["button"][0].get("sub_button").is_none());
        assert!(out["button"][0].get("url").is_none());
        assert_eq!(
            out["button"][1]["sub_button"][1]["appid"],
            "wx286b93c14bbf93aa"
        );
    }

    #[test]
    fn misspelt_fields_and_syntax_errors_are_reported() {
        let e = parse_menu_file(
            r#"{"button":[{"name":"x","sub_buton":[{"type":"click","name":"a","kee":"k"}]}]}"#,
            MenuFormat::Json,
        )
        .unwrap_err();
        assert!(e.contains("button[0].sub_buton: unknown field"), "{e}");
        let e = parse_menu_file(
            "[[button]]\nname = \"x\"\n[[button.sub_button]]\ntype = \"click\"\nname = \"a\"\nkee = \"k\"\n",
            MenuFormat::Toml,
        )
        .unwrap_err();
        assert!(
            e.contains("button[0].sub_button[0].kee: unknown field"),
            "{e}"
        );
        let e = parse_menu_file("[[button]\n", MenuFormat::Toml).unwrap_err();
        assert!(e.starts_with("invalid TOML"), "{e}");
        let e = parse_menu_file("{\"button\":[}", MenuFormat::Json).unwrap_err();
        assert!(e.starts_with("invalid JSON"), "{e}");
        let e = parse_menu_file(r#"{"button":[{"name":5}]}"#, MenuFormat::Json).unwrap_err();
        assert!(e.starts_with("invalid menu"), "{e}");
        let e = parse_menu_file(r#"{"menu":{"button":[]}}"#, MenuFormat::Json).unwrap_err();
        assert!(e.contains("menu/get"), "{e}");
    }

    #[test]
    fn format_comes_from_the_extension() {
        let format = |p: &str| MenuFormat::from_path(Path::new(p));
        assert_eq!(format("menu.toml"), MenuFormat::Toml);
        assert_eq!(format("/etc/wx/Menu.JSON"), MenuFormat::Json);
        assert_eq!(format("menu.json.d/menu.toml"), MenuFormat::Toml);
        assert_eq!(format("menu"), MenuFormat::Toml);
    }
}
