//! The seed's menu, as shipped in examples/menu.toml, is a valid menu in both file formats and
//! reads back from WeChat's `menu/get` shape without differences.

use std::path::Path;

use wechat::menu::{Menu, MenuSet, diff, validate};
use wxgate::menus::file::{MenuFormat, parse_menu_file};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/menu.toml");

fn seed() -> Menu {
    let text = std::fs::read_to_string(FIXTURE).unwrap();
    let format = MenuFormat::from_path(Path::new(FIXTURE));
    parse_menu_file(&text, format).unwrap()
}

#[test]
fn the_seed_menu_is_valid() {
    let menu = seed();
    assert_eq!(validate(&menu), Ok(()));
    assert_eq!(menu.button.len(), 3);
    assert_eq!(menu.button[0].key.as_deref(), Some("V1001_SUNCK"));
    assert_eq!(menu.button[1].name, "主页");
    assert_eq!(menu.button[2].sub_button.len(), 4);
    assert!(menu.matchrule.is_none());
}

#[test]
fn the_seed_menu_round_trips_through_json_and_menu_get() {
    let menu = seed();
    let json = serde_json::to_string(&menu).unwrap();
    assert!(json.contains("佳丽") && !json.contains("\\u"));
    assert_eq!(parse_menu_file(&json, MenuFormat::Json).unwrap(), menu);

    // What menu/get would answer: the same buttons, `sub_button: []` on every leaf.
    let mut answer: serde_json::Value = serde_json::from_str(&json).unwrap();
    fn add_empty_subs(buttons: &mut serde_json::Value) {
        for b in buttons.as_array_mut().unwrap() {
            match b.get_mut("sub_button") {
                Some(subs) => add_empty_subs(subs),
                None => {
                    b["sub_button"] = serde_json::json!([]);
                }
            }
        }
    }
    add_empty_subs(&mut answer["button"]);
    answer["menuid"] = serde_json::json!(208396938);
    let set: MenuSet = serde_json::from_value(serde_json::json!({ "menu": answer })).unwrap();
    assert!(diff(&menu, &set.default_menu()).is_empty());
}

#[test]
fn the_tutorial_json_with_its_original_url_is_valid_too() {
    // The body the tutorial posts, verbatim apart from whitespace.
    let json = r#"{"button": [
        {"type": "click", "name": "sunck", "key": "V1001_SUNCK"},
        {"type": "view", "name": "主页", "url": "http://39.107.226.105/auth/"},
        {"name": "佳丽", "sub_button": [
            {"type": "click", "name": "林志玲", "key": "V1002_MASSAGE_BEAUTIFUL01"},
            {"type": "click", "name": "范冰冰", "key": "V1002_MASSAGE_BEAUTIFUL02"},
            {"type": "click", "name": "关之琳", "key": "V1002_MASSAGE_BEAUTIFUL03"},
            {"type": "view", "name": "更多佳丽", "url": "http://www.baidu.com/"}]}]}"#;
    let menu = parse_menu_file(json, MenuFormat::Json).unwrap();
    assert_eq!(validate(&menu), Ok(()));
    assert_eq!(
        diff(&seed(), &menu),
        ["button[1].url: \"http://39.107.226.105/auth/\" → \"http://127.0.0.1:8000/auth/\""]
    );
}
