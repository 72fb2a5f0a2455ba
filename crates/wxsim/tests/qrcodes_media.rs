//! QR codes with scenes and media (`docs/wechat-platform-apis.md` §1, §2) as the simulator
//! answers them, called through `wechat::Client` as wxgate calls them, and raw where the
//! client would refuse the request before sending it.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use wechat::media::{Material, MediaKind, VideoDescription};
use wechat::qrcode::{QrCodeRequest, Scene};
use wechat::types::{AccessToken, AppId, AppSecret};
use wechat::{Client, ClientConfig, Download};

async fn base_token(s: &Sim) -> String {
    let body = s
        .json(&format!(
            "/cgi-bin/token?grant_type=client_credential&appid={APPID}&secret={SECRET}"
        ))
        .await;
    body["access_token"].as_str().expect("a token").to_string()
}

fn client(s: &Sim) -> Client {
    Client::new(ClientConfig {
        api_base: s.base.clone(),
        appid: AppId::parse(APPID).unwrap(),
        secret: AppSecret::new(SECRET),
        timeout: Duration::from_secs(5),
    })
    .unwrap()
}

async fn post(s: &Sim, path: &str, token: &str, body: &str) -> Value {
    let resp = s
        .http
        .post(s.url(&format!("{path}?access_token={token}")))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    if v["errcode"].as_i64().unwrap_or(0) != 0 {
        assert_rid(&v);
    }
    v
}

#[tokio::test]
async fn qr_codes_are_created_served_as_png_and_expire() {
    let s = spawn().await;
    let token = AccessToken::new(base_token(&s).await);
    let c = client(&s);
    let request = QrCodeRequest::temporary(Scene::Str("metro_poster".into()), 60).unwrap();
    let code = c.qrcode_create(&token, &request).await.unwrap();
    assert_eq!(code.expire_seconds, Some(60));
    assert!(code.url.starts_with("http://weixin.qq.com/q/"));
    assert!(code.ticket.contains('+'), "tickets need URL-encoding");
    let image_url = c.qrcode_image_url(&code.ticket);
    assert!(image_url.starts_with(&s.base) && image_url.contains("%2B"));
    let png = c.qrcode_image(&code.ticket).await.unwrap();
    assert!(png.starts_with(b"\x89PNG"));

    let listed: Value = s
        .get("/_sim/qrcodes?openid=nobody")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["qrcodes"][0]["scene"], "metro_poster");
    assert_eq!(listed["qrcodes"][0]["action_name"], "QR_STR_SCENE");
    assert_eq!(listed["follows"], false);

    s.sim.advance_clock(61);
    let err = c.qrcode_image(&code.ticket).await.unwrap_err();
    assert!(
        matches!(err, wechat::Error::BadResponse { status: 404, .. }),
        "{err}"
    );
    let listed: Value = s.get("/_sim/qrcodes").await.json().await.unwrap();
    assert_eq!(listed["qrcodes"], json!([]));

    // Permanent codes: the same scene gives the same ticket; numeric scenes too.
    let p = QrCodeRequest::permanent(Scene::Id(7)).unwrap();
    let a = c.qrcode_create(&token, &p).await.unwrap();
    let b = c.qrcode_create(&token, &p).await.unwrap();
    assert_eq!(a.ticket, b.ticket);
    assert_eq!(a.expire_seconds, None);
}

#[tokio::test]
async fn qr_code_refusals_are_wechats() {
    let s = spawn().await;
    let token = base_token(&s).await;
    let path = "/cgi-bin/qrcode/create";
    let code = |v: Value| v["errcode"].as_i64().unwrap_or(0);
    assert_eq!(code(post(&s, path, &token, "{'x':1}").await), 40052);
    assert_eq!(
        code(post(&s, path, &token, r#"{"action_name":"QR_X"}"#).await),
        40052
    );
    let long = "x".repeat(65);
    let body =
        json!({"action_name":"QR_LIMIT_STR_SCENE","action_info":{"scene":{"scene_str": long}}});
    assert_eq!(code(post(&s, path, &token, &body.to_string()).await), 40053);
    let body =
        json!({"action_name":"QR_LIMIT_SCENE","action_info":{"scene":{"scene_id": 100_001}}});
    assert_eq!(code(post(&s, path, &token, &body.to_string()).await), 40053);
    let body = json!({"action_name":"QR_SCENE","action_info":{"scene_id": 1}});
    assert_eq!(code(post(&s, path, &token, &body.to_string()).await), 40053);
    let body = json!({"action_name":"QR_SCENE","action_info":{"scene":{"scene_id": 1}}});
    assert_eq!(code(post(&s, path, &token, &body.to_string()).await), 0);
    assert_eq!(code(post(&s, path, "bad", &body.to_string()).await), 40001);
    let unknown = s.get("/cgi-bin/showqrcode?ticket=nope").await;
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn temporary_media_upload_and_download() {
    let s = spawn().await;
    let token = AccessToken::new(base_token(&s).await);
    let c = client(&s);
    let bytes = b"\x89PNG\r\n\x1a\nnot really".to_vec();
    let up = c
        .media_upload(&token, MediaKind::Image, "welcome.png", bytes.clone())
        .await
        .unwrap();
    assert_eq!(up.kind, Some(MediaKind::Image));
    match c.media_get(&token, &up.media_id).await.unwrap() {
        Download::File {
            content_type,
            bytes: got,
        } => {
            assert_eq!(content_type, "image/png");
            assert_eq!(got, bytes);
        }
        other => panic!("{other:?}"),
    }
    // The chat page shows it.
    let shown = s.get(&format!("/_sim/media/{}", up.media_id)).await;
    assert_eq!(shown.headers()["content-type"], "image/png");
    assert_eq!(shown.bytes().await.unwrap().to_vec(), bytes);

    let thumb = c
        .media_upload(&token, MediaKind::Thumb, "t.jpg", vec![1; 10])
        .await
        .unwrap();
    assert!(!thumb.media_id.is_empty(), "thumb_media_id is read too");

    // Refusals.
    let err = |r: Result<wechat::media::TemporaryMedia, wechat::Error>| {
        r.unwrap_err().errcode().map(|c| c.0)
    };
    assert_eq!(
        err(c
            .media_upload(&token, MediaKind::Image, "welcome", vec![1])
            .await),
        Some(40005)
    );
    assert_eq!(
        err(c
            .media_upload(&token, MediaKind::Thumb, "t.png", vec![1])
            .await),
        Some(40005)
    );
    assert_eq!(
        err(c
            .media_upload(&token, MediaKind::Thumb, "t.jpg", vec![1; 64 * 1024 + 1])
            .await),
        Some(40006)
    );
    assert_eq!(
        err(c
            .media_upload(&token, MediaKind::Image, "e.png", vec![])
            .await),
        Some(44001)
    );
    let raw = s
        .http
        .post(s.url(&format!(
            "/cgi-bin/media/upload?access_token={}&type=sticker",
            token.secret()
        )))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(raw["errcode"], 40004);
    let raw = s
        .http
        .post(s.url(&format!(
            "/cgi-bin/media/upload?access_token={}&type=image",
            token.secret()
        )))
        .body("x")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(raw["errcode"], 41005);

    // Three days later the id is gone.
    s.sim.advance_clock(3 * 24 * 3600);
    let token = AccessToken::new(base_token(&s).await);
    let gone = c.media_get(&token, &up.media_id).await.unwrap_err();
    assert_eq!(gone.errcode().map(|c| c.0), Some(40007));
}

#[tokio::test]
async fn permanent_material_add_get_count_list_delete() {
    let s = spawn().await;
    let token = AccessToken::new(base_token(&s).await);
    let c = client(&s);
    let image = c
        .material_add(&token, MediaKind::Image, "logo.png", vec![7; 100], None)
        .await
        .unwrap();
    assert!(image.url.is_some());
    // Past axum's default 2 MB body limit, within WeChat's 10 MB; 11 MB is WeChat's 40006.
    let big = c
        .material_add(&token, MediaKind::Image, "big.jpg", vec![1; 9 << 20], None)
        .await
        .unwrap();
    assert_eq!(s.sim.media_bytes(&big.media_id).unwrap().1.len(), 9 << 20);
    let too_big = c
        .material_add(&token, MediaKind::Image, "big.jpg", vec![1; 11 << 20], None)
        .await
        .unwrap_err();
    assert_eq!(too_big.errcode().map(|c| c.0), Some(40006));
    c.material_delete(&token, &big.media_id).await.unwrap();
    let video = c
        .material_add(
            &token,
            MediaKind::Video,
            "intro.mp4",
            vec![1; 100],
            Some(&VideoDescription {
                title: "介绍".into(),
                introduction: "一分钟".into(),
            }),
        )
        .await
        .unwrap();
    let no_title = c
        .material_add(&token, MediaKind::Video, "intro.mp4", vec![1; 100], None)
        .await
        .unwrap_err();
    assert_eq!(no_title.errcode().map(|c| c.0), Some(47001));

    assert_eq!(
        c.material_get(&token, &image.media_id).await.unwrap(),
        Material::File {
            content_type: "image/png".into(),
            bytes: vec![7; 100]
        }
    );
    match c.material_get(&token, &video.media_id).await.unwrap() {
        Material::Video { title, .. } => assert_eq!(title, "介绍"),
        other => panic!("{other:?}"),
    }
    let count = c.material_count(&token).await.unwrap();
    assert_eq!((count.image_count, count.video_count), (1, 1));
    let list = c
        .material_batchget(&token, MediaKind::Image, 0, 20)
        .await
        .unwrap();
    assert_eq!(list.total_count, 1);
    assert_eq!(list.item[0].name, "logo.png");

    c.material_delete(&token, &image.media_id).await.unwrap();
    let again = c
        .material_delete(&token, &image.media_id)
        .await
        .unwrap_err();
    assert_eq!(again.errcode().map(|c| c.0), Some(40007));
    let gone = c.material_get(&token, &image.media_id).await.unwrap_err();
    assert_eq!(gone.errcode().map(|c| c.0), Some(40007));
    // A permanent id is not a temporary one.
    let wrong = c.media_get(&token, &video.media_id).await.unwrap_err();
    assert_eq!(wrong.errcode().map(|c| c.0), Some(40007));
    let bad = post(
        &s,
        "/cgi-bin/material/batchget_material",
        token.secret(),
        r#"{"type":"image","offset":0,"count":21}"#,
    )
    .await;
    assert_eq!(bad["errcode"], 40097);
}
