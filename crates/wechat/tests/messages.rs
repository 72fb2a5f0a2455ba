//! Parsing pushed XML: every §C.3 message and §C.4 event, plus the hostile and broken inputs
//! that SDKs have choked on (field-lessons rows 9–10).

use std::time::{Duration, Instant};

use wechat::message::{self, Field, Message, MessageError, parse, parse_xml_fields};

fn envelope(msg_type: &str, extra: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_e136c6e50636]]></ToUserName>\
         <FromUserName><![CDATA[oMgHVjngRipVsoxg6TuX3vz6glDg]]></FromUserName>\
         <CreateTime>1408090502</CreateTime>\
         <MsgType><![CDATA[{msg_type}]]></MsgType>{extra}</xml>"
    )
}

fn event(name: &str, extra: &str) -> String {
    envelope(
        "event",
        &format!("<Event><![CDATA[{name}]]></Event>{extra}"),
    )
}

fn msg(body: &str) -> Message {
    parse(body).unwrap().message
}

#[test]
fn text_message_and_envelope() {
    let body = "<xml>\n  <ToUserName><![CDATA[toUser]]></ToUserName>\n  <FromUserName><![CDATA[fromUser]]></FromUserName>\n  <CreateTime>1348831860</CreateTime>\n  <MsgType><![CDATA[text]]></MsgType>\n  <Content><![CDATA[this is a test]]></Content>\n  <MsgId>1234567890123456</MsgId>\n  <MsgDataId>xxxx</MsgDataId>\n  <Idx>1</Idx>\n</xml>";
    let incoming = parse(body).unwrap();
    assert_eq!(incoming.envelope.to_user_name, "toUser");
    assert_eq!(incoming.envelope.from_user_name.as_str(), "fromUser");
    assert_eq!(incoming.envelope.create_time, 1348831860);
    assert_eq!(incoming.envelope.msg_type, "text");
    assert_eq!(
        incoming.message,
        Message::Text {
            content: "this is a test".into(),
            msg_id: Some(1234567890123456),
            msg_data_id: Some("xxxx".into()),
            idx: Some(1),
        }
    );
    assert!(incoming.is_user_message());
    assert_eq!(incoming.dedup_key(), "msg:fromUser:1234567890123456");
}

#[test]
fn numbers_with_and_without_cdata() {
    let plain = envelope("text", "<Content><![CDATA[x]]></Content><MsgId>42</MsgId>");
    let cdata = plain
        .replace(
            "<CreateTime>1408090502</CreateTime>",
            "<CreateTime><![CDATA[1408090502]]></CreateTime>",
        )
        .replace("<MsgId>42</MsgId>", "<MsgId><![CDATA[ 42 ]]></MsgId>");
    assert_ne!(plain, cdata);
    for body in [plain, cdata] {
        let i = parse(&body).unwrap();
        assert_eq!(i.envelope.create_time, 1408090502);
        assert!(matches!(
            i.message,
            Message::Text {
                msg_id: Some(42),
                ..
            }
        ));
    }
}

#[test]
fn each_user_message_type() {
    assert_eq!(
        msg(&envelope(
            "image",
            "<PicUrl><![CDATA[http://p/1.jpg]]></PicUrl><MediaId><![CDATA[m1]]></MediaId><MsgId>1</MsgId>"
        )),
        Message::Image {
            pic_url: "http://p/1.jpg".into(),
            media_id: "m1".into(),
            msg_id: Some(1)
        }
    );
    assert_eq!(
        msg(&envelope(
            "voice",
            "<MediaId><![CDATA[m2]]></MediaId><Format><![CDATA[amr]]></Format><Recognition><![CDATA[腾讯微信团队]]></Recognition><MsgId>2</MsgId>"
        )),
        Message::Voice {
            media_id: "m2".into(),
            format: "amr".into(),
            recognition: Some("腾讯微信团队".into()),
            msg_id: Some(2)
        }
    );
    assert_eq!(
        msg(&envelope(
            "voice",
            "<MediaId><![CDATA[m2]]></MediaId><Format><![CDATA[speex]]></Format><MsgId>2</MsgId>"
        )),
        Message::Voice {
            media_id: "m2".into(),
            format: "speex".into(),
            recognition: None,
            msg_id: Some(2)
        }
    );
    assert_eq!(
        msg(&envelope(
            "video",
            "<MediaId><![CDATA[m3]]></MediaId><ThumbMediaId><![CDATA[t3]]></ThumbMediaId><MsgId>3</MsgId>"
        )),
        Message::Video {
            media_id: "m3".into(),
            thumb_media_id: "t3".into(),
            msg_id: Some(3)
        }
    );
    assert_eq!(
        msg(&envelope(
            "shortvideo",
            "<MediaId><![CDATA[m4]]></MediaId><ThumbMediaId><![CDATA[t4]]></ThumbMediaId><MsgId>4</MsgId>"
        )),
        Message::ShortVideo {
            media_id: "m4".into(),
            thumb_media_id: "t4".into(),
            msg_id: Some(4)
        }
    );
    assert_eq!(
        msg(&envelope(
            "location",
            "<Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y><Scale>20</Scale><Label><![CDATA[位置信息]]></Label><MsgId>5</MsgId>"
        )),
        Message::Location {
            x: Some(23.134521),
            y: Some(113.358803),
            scale: Some(20.0),
            label: "位置信息".into(),
            msg_id: Some(5)
        }
    );
    assert_eq!(
        msg(&envelope(
            "link",
            "<Title><![CDATA[公众平台官网链接]]></Title><Description><![CDATA[d]]></Description><Url><![CDATA[http://u]]></Url><MsgId>6</MsgId>"
        )),
        Message::Link {
            title: "公众平台官网链接".into(),
            description: "d".into(),
            url: "http://u".into(),
            msg_id: Some(6)
        }
    );
}

#[test]
fn subscribe_plain_and_via_qr_scene() {
    assert_eq!(
        msg(&event("subscribe", "")),
        Message::Subscribe {
            event_key: String::new(),
            scene: None,
            ticket: None
        }
    );
    assert_eq!(
        msg(&event("subscribe", "<EventKey><![CDATA[]]></EventKey>")),
        Message::Subscribe {
            event_key: String::new(),
            scene: None,
            ticket: None
        }
    );
    assert_eq!(
        msg(&event(
            "subscribe",
            "<EventKey><![CDATA[qrscene_123123]]></EventKey><Ticket><![CDATA[TICKET]]></Ticket>"
        )),
        Message::Subscribe {
            event_key: "qrscene_123123".into(),
            scene: Some("123123".into()),
            ticket: Some("TICKET".into())
        }
    );
    assert_eq!(msg(&event("unsubscribe", "")), Message::Unsubscribe);
    assert_eq!(
        msg(&event(
            "SCAN",
            "<EventKey><![CDATA[SCENE_VALUE]]></EventKey><Ticket><![CDATA[TICKET]]></Ticket>"
        )),
        Message::Scan {
            event_key: "SCENE_VALUE".into(),
            ticket: Some("TICKET".into())
        }
    );
}

#[test]
fn location_click_view_events() {
    assert_eq!(
        msg(&event(
            "LOCATION",
            "<Latitude>23.137466</Latitude><Longitude>113.352425</Longitude><Precision>119.385040</Precision>"
        )),
        Message::LocationEvent {
            latitude: Some(23.137466),
            longitude: Some(113.352425),
            precision: Some(119.38504)
        }
    );
    assert_eq!(
        msg(&event(
            "CLICK",
            "<EventKey><![CDATA[V1001_TODAY_MUSIC]]></EventKey>"
        )),
        Message::Click {
            event_key: "V1001_TODAY_MUSIC".into()
        }
    );
    assert_eq!(
        msg(&event(
            "VIEW",
            "<EventKey><![CDATA[http://www.qq.com/]]></EventKey><MenuId>208379533</MenuId>"
        )),
        Message::View {
            event_key: "http://www.qq.com/".into(),
            menu_id: Some("208379533".into())
        }
    );
    assert_eq!(
        msg(&event(
            "view_miniprogram",
            "<EventKey><![CDATA[pages/index/index]]></EventKey><MenuId>1</MenuId>"
        )),
        Message::ViewMiniprogram {
            event_key: "pages/index/index".into(),
            menu_id: Some("1".into())
        }
    );
}

#[test]
fn scancode_events() {
    let info = "<EventKey><![CDATA[6]]></EventKey><ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType><ScanResult><![CDATA[1]]></ScanResult></ScanCodeInfo>";
    assert_eq!(
        msg(&event("scancode_push", info)),
        Message::ScancodePush {
            event_key: "6".into(),
            scan_type: "qrcode".into(),
            scan_result: "1".into()
        }
    );
    assert_eq!(
        msg(&event("scancode_waitmsg", info)),
        Message::ScancodeWaitmsg {
            event_key: "6".into(),
            scan_type: "qrcode".into(),
            scan_result: "1".into()
        }
    );
}

#[test]
fn pic_events_collect_every_md5() {
    let one = "<EventKey><![CDATA[6]]></EventKey><SendPicsInfo><Count>1</Count><PicList><item><PicMd5Sum><![CDATA[1b5f7c23b5bf75682a53e7b6d163e185]]></PicMd5Sum></item></PicList></SendPicsInfo>";
    assert_eq!(
        msg(&event("pic_sysphoto", one)),
        Message::PicSysphoto {
            event_key: "6".into(),
            count: Some(1),
            pic_md5s: vec!["1b5f7c23b5bf75682a53e7b6d163e185".into()]
        }
    );
    let two = "<EventKey><![CDATA[6]]></EventKey><SendPicsInfo><Count>2</Count><PicList><item><PicMd5Sum><![CDATA[aaa]]></PicMd5Sum></item><item><PicMd5Sum><![CDATA[bbb]]></PicMd5Sum></item></PicList></SendPicsInfo>";
    assert_eq!(
        msg(&event("pic_photo_or_album", two)),
        Message::PicPhotoOrAlbum {
            event_key: "6".into(),
            count: Some(2),
            pic_md5s: vec!["aaa".into(), "bbb".into()]
        }
    );
    assert_eq!(
        msg(&event("pic_weixin", two)),
        Message::PicWeixin {
            event_key: "6".into(),
            count: Some(2),
            pic_md5s: vec!["aaa".into(), "bbb".into()]
        }
    );
    let i = parse(&event("pic_weixin", two)).unwrap();
    let list = i
        .fields
        .nested("SendPicsInfo")
        .unwrap()
        .nested("PicList")
        .unwrap()
        .list("item")
        .unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(
        i.fields.to_json()["SendPicsInfo"]["PicList"]["item"][1]["PicMd5Sum"],
        "bbb"
    );
}

#[test]
fn location_select_with_cdata_numbers() {
    let body = event(
        "location_select",
        "<EventKey><![CDATA[6]]></EventKey><SendLocationInfo><Location_X><![CDATA[23]]></Location_X><Location_Y><![CDATA[113]]></Location_Y><Scale><![CDATA[15]]></Scale><Label><![CDATA[ 广州市海珠区客村艺苑路 106号]]></Label><Poiname><![CDATA[]]></Poiname></SendLocationInfo>",
    );
    assert_eq!(
        msg(&body),
        Message::LocationSelect {
            event_key: "6".into(),
            x: Some(23.0),
            y: Some(113.0),
            scale: Some(15.0),
            label: " 广州市海珠区客村艺苑路 106号".into(),
            poiname: String::new(),
        }
    );
}

#[test]
fn job_finish_events_and_their_dedup_keys() {
    let tpl = parse(&event(
        "TEMPLATESENDJOBFINISH",
        "<MsgID>200163836</MsgID><Status><![CDATA[failed: system failed]]></Status>",
    ))
    .unwrap();
    assert_eq!(
        tpl.message,
        Message::TemplateSendJobFinish {
            msg_id: Some(200163836),
            status: "failed: system failed".into()
        }
    );
    assert_eq!(
        tpl.dedup_key(),
        "msg:oMgHVjngRipVsoxg6TuX3vz6glDg:200163836"
    );
    assert!(!tpl.is_user_message());
    let mass = parse(&event(
        "MASSSENDJOBFINISH",
        "<MsgID>1988</MsgID><Status><![CDATA[err(30003)]]></Status><TotalCount>100</TotalCount><FilterCount>80</FilterCount><SentCount>75</SentCount><ErrorCount>5</ErrorCount><CopyrightCheckResult><Count>0</Count><ResultList></ResultList><CheckState>1</CheckState></CopyrightCheckResult>",
    ))
    .unwrap();
    assert_eq!(
        mass.message,
        Message::MassSendJobFinish {
            msg_id: Some(1988),
            status: "err(30003)".into(),
            total_count: Some(100),
            filter_count: Some(80),
            sent_count: Some(75),
            error_count: Some(5),
        }
    );
    assert_eq!(
        mass.fields
            .nested("CopyrightCheckResult")
            .unwrap()
            .text("CheckState"),
        Some("1")
    );
}

#[test]
fn event_dedup_key_uses_sender_time_event_and_key() {
    let click = parse(&event("CLICK", "<EventKey><![CDATA[K1]]></EventKey>")).unwrap();
    assert_eq!(
        click.dedup_key(),
        "evt:oMgHVjngRipVsoxg6TuX3vz6glDg:1408090502:CLICK:K1"
    );
    let sub = parse(&event("subscribe", "")).unwrap();
    assert_eq!(
        sub.dedup_key(),
        "evt:oMgHVjngRipVsoxg6TuX3vz6glDg:1408090502:subscribe:"
    );
}

#[test]
fn unknown_types_and_events_keep_their_fields() {
    let card = parse(&envelope(
        "miniprogrampage",
        "<Title><![CDATA[t]]></Title><AppId><![CDATA[wx1]]></AppId><MsgId>9</MsgId>",
    ))
    .unwrap();
    assert_eq!(card.message, Message::Unknown { event: None });
    assert_eq!(card.fields.text("AppId"), Some("wx1"));
    assert_eq!(card.dedup_key(), "msg:oMgHVjngRipVsoxg6TuX3vz6glDg:9");
    let ev = parse(&event("user_pay_from_pay_cell", "<Fee>10</Fee>")).unwrap();
    assert_eq!(
        ev.message,
        Message::Unknown {
            event: Some("user_pay_from_pay_cell".into())
        }
    );
    assert_eq!(ev.fields.text("Fee"), Some("10"));
    assert_eq!(ev.fields.to_json()["Fee"], "10");
}

#[test]
fn control_characters_in_user_text_are_dropped_not_fatal() {
    let raw = envelope(
        "text",
        "<Content><![CDATA[a\u{2}b\u{10}c\td]]></Content><MsgId>1</MsgId>",
    );
    assert!(matches!(msg(&raw), Message::Text { content, .. } if content == "abc\td"));
    // Outside CDATA, as character references, and invalid references.
    let refs = envelope(
        "text",
        "<Content>a&#x2;b&#2;c&#0;d&#xFFFFFFFF;e&#x1F600;&amp;&lt;</Content><MsgId>1</MsgId>",
    );
    assert!(matches!(msg(&refs), Message::Text { content, .. } if content == "abcde😀&<"));
}

#[test]
fn missing_or_bad_envelope_is_an_error() {
    let no_from =
        "<xml><ToUserName>a</ToUserName><CreateTime>1</CreateTime><MsgType>text</MsgType></xml>";
    assert_eq!(
        parse(no_from).unwrap_err(),
        MessageError::MissingField("FromUserName")
    );
    let bad_time = envelope("text", "").replace("1408090502", "yesterday");
    assert!(
        matches!(parse(&bad_time).unwrap_err(), MessageError::InvalidNumber { field, .. } if field == "CreateTime")
    );
    let bad_msgid = envelope("text", "<MsgId>12ab</MsgId>");
    assert!(
        matches!(parse(&bad_msgid).unwrap_err(), MessageError::InvalidNumber { field, .. } if field == "MsgId")
    );
    let bad_nested = event(
        "location_select",
        "<SendLocationInfo><Scale>big</Scale></SendLocationInfo>",
    );
    assert!(
        matches!(parse(&bad_nested).unwrap_err(), MessageError::InvalidNumber { field, .. } if field == "SendLocationInfo.Scale")
    );
    // A missing optional field is not an error.
    assert_eq!(
        msg(&envelope("text", "")),
        Message::Text {
            content: String::new(),
            msg_id: None,
            msg_data_id: None,
            idx: None
        }
    );
}

#[test]
fn safe_mode_body_exposes_the_encrypt_payload() {
    let body = "<xml><ToUserName><![CDATA[gh_xxx]]></ToUserName><Encrypt><![CDATA[BASE64+/=]]></Encrypt></xml>";
    let fields = parse_xml_fields(body).unwrap();
    assert_eq!(message::encrypted_payload(&fields), Some("BASE64+/="));
    assert_eq!(
        parse(body).unwrap_err(),
        MessageError::MissingField("FromUserName")
    );
    let plain = parse_xml_fields(&envelope("text", "")).unwrap();
    assert_eq!(message::encrypted_payload(&plain), None);
}

#[test]
fn billion_laughs_is_refused_quickly() {
    let bomb = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&lol9;</Content></xml>"#;
    let start = Instant::now();
    assert_eq!(parse_xml_fields(bomb).unwrap_err(), MessageError::Doctype);
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[test]
fn external_entities_are_refused() {
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><Content>&xxe;</Content></xml>"#;
    assert_eq!(parse_xml_fields(xxe).unwrap_err(), MessageError::Doctype);
    // Without a DTD an undeclared entity is an error too, never a lookup.
    let undeclared = "<xml><Content>&xxe;</Content></xml>";
    assert_eq!(
        parse_xml_fields(undeclared).unwrap_err(),
        MessageError::UnknownEntity("xxe".into())
    );
}

#[test]
fn deep_nesting_and_too_many_elements_are_errors() {
    let deep = format!(
        "<xml>{}{}</xml>",
        "<a>".repeat(100_000),
        "</a>".repeat(100_000)
    );
    assert_eq!(parse_xml_fields(&deep).unwrap_err(), MessageError::TooDeep);
    let ok_depth = format!("<xml>{}x{}</xml>", "<a>".repeat(7), "</a>".repeat(7));
    assert!(parse_xml_fields(&ok_depth).is_ok());
    let wide = format!("<xml>{}</xml>", "<item>1</item>".repeat(1000));
    assert_eq!(
        parse_xml_fields(&wide).unwrap_err(),
        MessageError::TooManyElements
    );
    let fits = format!("<xml>{}</xml>", "<item>1</item>".repeat(999));
    assert_eq!(
        parse_xml_fields(&fits).unwrap().list("item").unwrap().len(),
        999
    );
}

#[test]
fn root_must_be_xml_and_document_well_formed() {
    assert_eq!(
        parse_xml_fields("<root><A>1</A></root>").unwrap_err(),
        MessageError::WrongRoot("root".into())
    );
    assert_eq!(parse_xml_fields("").unwrap_err(), MessageError::NoRoot);
    assert_eq!(
        parse_xml_fields("success").unwrap_err(),
        MessageError::NoRoot
    );
    assert_eq!(
        parse_xml_fields("<xml></xml><xml></xml>").unwrap_err(),
        MessageError::TrailingContent
    );
    assert!(matches!(
        parse_xml_fields("<xml><A>1</B></xml>"),
        Err(MessageError::Xml(_))
    ));
    assert!(parse_xml_fields("<xml><A>1</A>").is_err());
    assert!(parse_xml_fields("{\"json\":true}").is_err());
}

#[test]
fn fields_tree_shape_and_json() {
    let f = parse_xml_fields("\u{FEFF}<?xml version=\"1.0\"?><!-- c --><xml><A>1</A><B><C><![CDATA[x]]></C><D/></B><E>p</E><E>q</E></xml>").unwrap();
    assert_eq!(f.text("A"), Some("1"));
    assert_eq!(f.nested("B").unwrap().text("D"), Some(""));
    assert!(matches!(f.get("E"), Some(Field::List(l)) if l.len() == 2));
    assert_eq!(
        f.to_json(),
        serde_json::json!({"A": "1", "B": {"C": "x", "D": ""}, "E": [{"#text": "p"}, {"#text": "q"}]})
    );
    assert_eq!(
        f.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        ["A", "B", "E"]
    );
}

#[test]
fn the_ciphertext_is_found_without_parsing_the_body() {
    use wechat::message::encrypt_element;
    let wechat_style = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Encrypt><![CDATA[AbC+/9=]]></Encrypt></xml>";
    assert_eq!(encrypt_element(wechat_style), Some("AbC+/9="));
    assert_eq!(
        encrypt_element("<xml><Encrypt>QUJD</Encrypt></xml>"),
        Some("QUJD")
    );
    for refused in [
        "<xml></xml>",
        "<xml><Encrypt></Encrypt></xml>",
        "<xml><Encrypt><![CDATA[not base64!]]></Encrypt></xml>",
        "<xml><Encrypt>QUJD</Encrypt><Encrypt>REVG</Encrypt></xml>",
        "<xml><Encrypt><![CDATA[QUJD</Encrypt></xml>",
        "<xml><Encrypt>QUJD",
    ] {
        assert_eq!(encrypt_element(refused), None, "{refused}");
    }
}

#[test]
fn element_names_and_sibling_counts_are_bounded() {
    use wechat::message::{MessageError, parse_xml_fields};
    let long = format!("<xml><{0}>x</{0}></xml>", "N".repeat(65));
    assert_eq!(parse_xml_fields(&long), Err(MessageError::NameTooLong));
    let many: String = (0..101).map(|i| format!("<f{i}>x</f{i}>")).collect();
    assert_eq!(
        parse_xml_fields(&format!("<xml>{many}</xml>")),
        Err(MessageError::TooManyChildren)
    );
    // Repeated names (lists) are fine: they are one child.
    let items: String = (0..500).map(|_| "<item>x</item>").collect();
    assert!(parse_xml_fields(&format!("<xml><List>{items}</List></xml>")).is_ok());
}
