use super::*;

fn leaf(name: &str, kind: &str) -> Button {
    let mut b = Button {
        name: name.into(),
        kind: Some(kind.into()),
        ..Button::default()
    };
    match kind {
        "view" => b.url = Some("https://example.com/".into()),
        "miniprogram" => {
            b.url = Some("https://example.com/".into());
            b.appid = Some("wx286b93c14bbf93aa".into());
            b.pagepath = Some("pages/lunar/index".into());
        }
        "media_id" | "view_limited" => b.media_id = Some("MEDIA_ID1".into()),
        "article_id" | "article_view_limited" => b.article_id = Some("ARTICLE_ID1".into()),
        _ => b.key = Some("K".into()),
    }
    b
}

fn group(name: &str, subs: Vec<Button>) -> Button {
    Button {
        name: name.into(),
        sub_button: subs,
        ..Button::default()
    }
}

fn ok_menu() -> Menu {
    Menu {
        button: vec![
            leaf("a", "click"),
            leaf("b", "view"),
            group("c", vec![leaf("c1", "click"), leaf("c2", "miniprogram")]),
        ],
        matchrule: None,
    }
}

/// Views on a., b., c. and d.example, d.example coming from `button[2].sub_button[0]`.
fn four_domains(m: &mut Menu) {
    let view = |name: &str, url: &str| Button {
        url: Some(url.into()),
        ..leaf(name, "view")
    };
    m.button[0] = group(
        "a",
        vec![
            view("a1", "https://a.example/"),
            view("a2", "https://b.example/"),
        ],
    );
    m.button[1].url = Some("https://c.example/".into());
    m.button[2].sub_button[0] = view("c1", "https://d.example/");
    m.button[2].sub_button[1].url = Some("https://a.example/".into());
}

fn paths(menu: &Menu) -> Vec<String> {
    match validate(menu) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.into_iter().map(|e| e.path).collect(),
    }
}

#[test]
fn every_type_with_its_fields_is_valid() {
    assert_eq!(validate(&ok_menu()), Ok(()));
    for kind in BUTTON_TYPES {
        let menu = Menu {
            button: vec![group("g", vec![leaf("x", kind)]), leaf("y", kind)],
            matchrule: None,
        };
        assert_eq!(validate(&menu), Ok(()), "{kind}");
    }
}

/// One row per rule of §D.1/§D.5: a change to a valid menu, and the exact error paths.
#[test]
fn every_limit_is_checked_with_its_path() {
    type Edit = fn(&mut Menu);
    let rows: &[(&str, Edit, &[&str])] = &[
        ("no buttons", |m| m.button.clear(), &["button"]),
        (
            "four top-level buttons",
            |m| m.button.push(leaf("d", "click")),
            &["button"],
        ),
        (
            "type and sub_button",
            |m| m.button[2].kind = Some("click".into()),
            &["button[2]"],
        ),
        (
            "neither type nor sub_button",
            |m| m.button[0].kind = None,
            &["button[0]"],
        ),
        (
            "six sub-buttons",
            |m| m.button[2].sub_button = vec![leaf("s", "click"); 6],
            &["button[2].sub_button"],
        ),
        (
            "third level",
            |m| m.button[2].sub_button[1].sub_button = vec![leaf("z", "click")],
            &["button[2].sub_button[1].sub_button"],
        ),
        (
            "sub-button without type",
            |m| m.button[2].sub_button[0].kind = None,
            &["button[2].sub_button[0].type"],
        ),
        (
            "empty name",
            |m| m.button[1].name = " ".into(),
            &["button[1].name"],
        ),
        (
            "top-level name over 16 bytes",
            |m| m.button[0].name = "一二三四五六".into(), // 18 bytes
            &["button[0].name"],
        ),
        (
            "sub name over 60 bytes",
            |m| m.button[2].sub_button[1].name = "字".repeat(21), // 63 bytes
            &["button[2].sub_button[1].name"],
        ),
        (
            "unknown type",
            |m| m.button[0].kind = Some("text".into()),
            &["button[0].type"],
        ),
        (
            "click without key",
            |m| m.button[0].key = None,
            &["button[0].key"],
        ),
        (
            "scancode_push with empty key",
            |m| {
                m.button[2].sub_button[0] = Button {
                    key: Some(String::new()),
                    ..leaf("c1", "scancode_push")
                }
            },
            &["button[2].sub_button[0].key"],
        ),
        (
            "key over 128 bytes",
            |m| m.button[0].key = Some("k".repeat(129)),
            &["button[0].key"],
        ),
        (
            "view without url",
            |m| m.button[1].url = None,
            &["button[1].url"],
        ),
        (
            "url over 1024 bytes",
            |m| m.button[1].url = Some(format!("https://e.com/{}", "a".repeat(1020))),
            &["button[1].url"],
        ),
        (
            "url without scheme",
            |m| m.button[1].url = Some("example.com/auth/".into()),
            &["button[1].url"],
        ),
        (
            "url-encoded url",
            |m| m.button[1].url = Some("http%3A%2F%2Fexample.com%2F".into()),
            &["button[1].url"],
        ),
        (
            "url without host",
            |m| m.button[1].url = Some("http://".into()),
            &["button[1].url"],
        ),
        (
            "url with a bad port",
            |m| m.button[1].url = Some("https://example.com:99999/".into()),
            &["button[1].url"],
        ),
        (
            "four url domains: the button bringing the 4th is named",
            |m| four_domains(m),
            &["button[2].sub_button[0].url"],
        ),
        (
            "five url domains: reported once, at the 4th",
            |m| {
                four_domains(m);
                m.button[2].sub_button[1].url = Some("https://e.example/".into());
            },
            &["button[2].sub_button[0].url"],
        ),
        (
            "four domains counting a miniprogram's url",
            |m| {
                four_domains(m);
                m.button[2].sub_button[0] = leaf("c1", "click");
                m.button[2].sub_button[1].url = Some("https://d.example/".into());
            },
            &["button[2].sub_button[1].url"],
        ),
        (
            "one host spelt four ways is one domain",
            |m| {
                four_domains(m);
                m.button[0].sub_button[1].url = Some("HTTPS://A.Example/other".into());
                m.button[1].url = Some("http://a.example:8080/x?y#z".into());
                m.button[2].sub_button[0].url = Some("https://user@a.example/".into());
            },
            &[],
        ),
        (
            "a url already refused is not counted",
            |m| {
                four_domains(m);
                m.button[1].url = Some("d.example/no-scheme".into());
            },
            &["button[1].url"],
        ),
        (
            "miniprogram without url",
            |m| m.button[2].sub_button[1].url = None,
            &["button[2].sub_button[1].url"],
        ),
        (
            "miniprogram without appid and pagepath",
            |m| {
                m.button[2].sub_button[1].appid = None;
                m.button[2].sub_button[1].pagepath = None;
            },
            &[
                "button[2].sub_button[1].appid",
                "button[2].sub_button[1].pagepath",
            ],
        ),
        (
            "media_id without media_id",
            |m| {
                m.button[0] = Button {
                    media_id: None,
                    ..leaf("a", "media_id")
                }
            },
            &["button[0].media_id"],
        ),
        (
            "view_limited without media_id",
            |m| {
                m.button[0] = Button {
                    media_id: None,
                    ..leaf("a", "view_limited")
                }
            },
            &["button[0].media_id"],
        ),
        (
            "article_id without article_id",
            |m| {
                m.button[0] = Button {
                    article_id: None,
                    ..leaf("a", "article_id")
                }
            },
            &["button[0].article_id"],
        ),
        (
            "article_view_limited without article_id",
            |m| {
                m.button[0] = Button {
                    article_id: None,
                    ..leaf("a", "article_view_limited")
                }
            },
            &["button[0].article_id"],
        ),
        (
            "empty matchrule",
            |m| {
                m.matchrule = Some(MatchRule {
                    tag_id: Some(String::new()),
                    ..MatchRule::default()
                })
            },
            &["matchrule"],
        ),
        (
            "privacy matchrule fields",
            |m| {
                m.matchrule = Some(MatchRule {
                    tag_id: Some("2".into()),
                    sex: Some("1".into()),
                    country: Some("中国".into()),
                    province: Some("广东".into()),
                    city: Some("广州".into()),
                    language: Some("zh_CN".into()),
                    ..MatchRule::default()
                })
            },
            &[
                "matchrule.sex",
                "matchrule.country",
                "matchrule.province",
                "matchrule.city",
                "matchrule.language",
            ],
        ),
        (
            "bad client_platform_type",
            |m| {
                m.matchrule = Some(MatchRule {
                    client_platform_type: Some("4".into()),
                    ..MatchRule::default()
                })
            },
            &["matchrule.client_platform_type"],
        ),
    ];
    for (what, edit, expected) in rows {
        let mut menu = ok_menu();
        edit(&mut menu);
        assert_eq!(paths(&menu), *expected, "{what}");
    }
}

#[test]
fn too_many_domains_and_a_missing_host_say_what_to_do() {
    let mut menu = ok_menu();
    four_domains(&mut menu);
    let text: Vec<String> = validate(&menu)
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        text,
        [
            "button[2].sub_button[0].url: a 4th domain (d.example); WeChat allows 3 per menu (65316), and this one already links to a.example, b.example, c.example"
        ]
    );
    // A conditional menu has its own 3 domains, checked the same way.
    menu.matchrule = Some(MatchRule {
        tag_id: Some("2".into()),
        ..MatchRule::default()
    });
    assert_eq!(paths(&menu), ["button[2].sub_button[0].url"]);

    let mut hostless = ok_menu();
    hostless.button[1].url = Some("http://".into());
    assert_eq!(
        validate(&hostless).unwrap_err()[0].to_string(),
        "button[1].url: \"http://\" has no host; write the whole address, e.g. https://example.com/page"
    );
}

#[test]
fn limits_are_inclusive_and_counted_in_utf8_bytes() {
    let mut menu = ok_menu();
    menu.button[0].name = "一二三四五".into(); // 15 bytes
    menu.button[2].name = "abcdefghijklmnop".into(); // 16 bytes
    menu.button[2].sub_button[0].name = "字".repeat(20); // 60 bytes
    menu.button[0].key = Some("k".repeat(128));
    menu.button[1].url = Some(format!("https://e.com/{}", "a".repeat(1024 - 14)));
    menu.button[2].sub_button = vec![leaf("s", "click"); 5];
    menu.matchrule = Some(MatchRule {
        tag_id: Some("2".into()),
        client_platform_type: Some("3".into()),
        ..MatchRule::default()
    });
    assert_eq!(validate(&menu), Ok(()));
}

#[test]
fn errors_are_all_collected_and_display_with_their_path() {
    let menu = Menu {
        button: vec![
            leaf("ok", "click"),
            Button::default(),
            group(
                "g",
                vec![leaf("s", "click"), leaf("十九个字节的名字x", "click")],
            ),
            leaf("x", "view"),
        ],
        matchrule: None,
    };
    let mut short = menu.clone();
    short.button[2].name = "超过十六字节名字".into(); // 24 bytes
    let errors = validate(&short).unwrap_err();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "button: 4 buttons, limit 3",
            "button[1].name: required",
            "button[1]: has neither a type nor sub_button; give it a type or 1 to 5 sub-buttons",
            "button[2].name: 24 bytes, limit 16",
        ]
    );
    let mut long_sub = menu;
    long_sub.button.truncate(3);
    long_sub.button[1] = leaf("ok", "click");
    long_sub.button[2].sub_button[1].name = "十九字节".repeat(5); // 60 bytes: fine
    assert_eq!(validate(&long_sub), Ok(()));
    long_sub.button[2].sub_button[1].name.push('x');
    assert_eq!(
        validate(&long_sub).unwrap_err()[0].to_string(),
        "button[2].sub_button[1].name: 61 bytes, limit 60"
    );
}

#[test]
fn menu_get_answers_parse_and_diff_clean_against_the_local_file() {
    let local = ok_menu();
    // menu/get echoes sub_button: [] on leaves, a numeric menuid, and may echo empty
    // strings for unset matchrule fields.
    let answer = r#"{"menu":{"button":[
          {"type":"click","name":"a","key":"K","sub_button":[]},
          {"type":"view","name":"b","url":"https://example.com/","sub_button":[]},
          {"name":"c","sub_button":[
             {"type":"click","name":"c1","key":"K","sub_button":[]},
             {"type":"miniprogram","name":"c2","url":"https://example.com/",
              "appid":"wx286b93c14bbf93aa","pagepath":"pages/lunar/index","sub_button":[]}]}],
          "menuid":208396938},
        "conditionalmenu":[{"button":[{"type":"click","name":"a","key":"K","sub_button":[]}],
          "matchrule":{"group_id":"","sex":"","country":"","province":"","city":"",
                       "client_platform_type":"2","tag_id":2,"language":""},
          "menuid":208396993}]}"#;
    let set: MenuSet = serde_json::from_str(answer).unwrap();
    let remote = set.menu.as_ref().unwrap();
    assert_eq!(remote.menuid.as_deref(), Some("208396938"));
    assert_eq!(diff(&local, &remote.menu), Vec::<String>::new());
    assert_eq!(remote.menu, local);

    let cond = &set.conditionalmenu[0];
    assert_eq!(cond.menuid.as_deref(), Some("208396993"));
    let wanted = Menu {
        button: vec![leaf("a", "click")],
        matchrule: Some(MatchRule {
            tag_id: Some("2".into()),
            client_platform_type: Some("2".into()),
            ..MatchRule::default()
        }),
    };
    assert_eq!(diff(&wanted, &cond.menu), Vec::<String>::new());
    assert_eq!(set.default_menu(), local);
    // The echoed empty strings and the numeric tag_id do not make it another rule.
    let rule = wanted.matchrule.as_ref().unwrap();
    assert_eq!(set.conditional_with(rule), [cond]);
    assert!(rule.same_as(cond.menu.matchrule.as_ref().unwrap()));
    assert_eq!(
        cond.menu.matchrule.as_ref().unwrap().to_string(),
        "tag_id = \"2\", client_platform_type = \"2\""
    );
    let android_only = MatchRule {
        client_platform_type: Some("2".into()),
        ..MatchRule::default()
    };
    assert!(set.conditional_with(&android_only).is_empty());
    assert!(!set.is_empty());
    let none: MenuSet = serde_json::from_str("{}").unwrap();
    assert!(none.is_empty());
    assert!(
        serde_json::from_str::<MenuSet>(r#"{"menu":{"button":[]}}"#)
            .unwrap()
            .is_empty()
    );
    assert!(none.menu.is_none());
    assert_eq!(
        diff(&local, &none.default_menu())[0],
        "button[0]: added \"a\" (click)"
    );
}

#[test]
fn diff_names_each_change_by_path() {
    let remote = ok_menu();
    let mut local = ok_menu();
    local.button[1].url = Some("https://example.com/auth/".into());
    local.button[2].sub_button.pop();
    local.button[2].sub_button.push(leaf("c3", "click"));
    local.button[2].sub_button.push(leaf("c4", "view"));
    local.button.remove(0);
    assert_eq!(
        diff(&local, &remote),
        [
            "button[0].name: \"a\" → \"b\"",
            "button[0].type: \"click\" → \"view\"",
            "button[0].key: \"K\" → (unset)",
            "button[0].url: (unset) → \"https://example.com/auth/\"",
            "button[1].name: \"b\" → \"c\"",
            "button[1].type: \"view\" → (unset)",
            "button[1].url: \"https://example.com/\" → (unset)",
            "button[1].sub_button[0]: added \"c1\" (click)",
            "button[1].sub_button[1]: added \"c3\" (click)",
            "button[1].sub_button[2]: added \"c4\" (view)",
            "button[2]: removed \"c\" (2 sub-buttons)",
        ]
    );
    let mut retitled = ok_menu();
    retitled.button[2].sub_button[0].name = "新".into();
    retitled.matchrule = Some(MatchRule {
        tag_id: Some("7".into()),
        ..MatchRule::default()
    });
    assert_eq!(
        diff(&retitled, &remote),
        [
            "button[2].sub_button[0].name: \"c1\" → \"新\"",
            "matchrule.tag_id: (unset) → \"7\"",
        ]
    );
}
