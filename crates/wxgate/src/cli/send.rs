//! `wxgate send template|subscribe|custom|log`: messages to a user from the command line,
//! through the same service as `POST /admin/messages/*` ([`crate::sends`]).

use clap::Subcommand;
use wechat::notify::{CustomContent, ExtraCustom, MenuChoice, MiniProgram, NotifyKind};
use wechat::reply::{Article, Reply};

use super::{AccountArgs, account, load_sources, when};
use crate::sends::{Caller, Notice, SendError, Sends, parse_pairs};

#[derive(Subcommand, Debug)]
pub(super) enum SendAction {
    /// A template message (模板消息) to a follower: data as keyword=value, e.g. thing1=绿茶礼盒.
    Template {
        #[command(flatten)]
        account: AccountArgs,
        /// The follower's openid.
        openid: String,
        /// One of the account's template-message templates (`wxgate send templates`).
        template_id: String,
        /// A value per keyword of the template.
        #[arg(value_name = "KEY=VALUE")]
        data: Vec<String>,
        /// The page the message opens.
        #[arg(long)]
        url: Option<String>,
        /// A mini program it opens instead: APPID:PAGEPATH.
        #[arg(long, value_name = "APPID:PAGEPATH")]
        miniprogram: Option<String>,
        /// WeChat sends a message with this id to the user only once in 10 minutes.
        #[arg(long)]
        client_msg_id: Option<String>,
    },
    /// A subscription notice (订阅通知) to a user who accepted the template.
    Subscribe {
        #[command(flatten)]
        account: AccountArgs,
        /// The user's openid.
        openid: String,
        /// One of the account's subscription templates (`wxgate send templates`).
        template_id: String,
        /// A value per keyword of the template.
        #[arg(value_name = "KEY=VALUE")]
        data: Vec<String>,
        /// The web page the notice opens.
        #[arg(long)]
        page: Option<String>,
        #[arg(long, value_name = "APPID:PAGEPATH")]
        miniprogram: Option<String>,
    },
    /// A customer-service message (客服消息) to a user who wrote in the last 48 hours.
    ///
    /// KIND ARGS: text CONTENT | image MEDIA_ID | voice MEDIA_ID | video MEDIA_ID [TITLE
    /// [DESCRIPTION]] | music THUMB_MEDIA_ID MUSIC_URL [TITLE] | news TITLE URL [DESCRIPTION
    /// [PICURL]] | msgmenu HEAD ID=CHOICE… | miniprogrampage TITLE APPID PAGEPATH
    /// THUMB_MEDIA_ID | json '{"type":"text","content":"…"}'.
    Custom {
        #[command(flatten)]
        account: AccountArgs,
        /// The user's openid.
        openid: String,
        /// text, image, voice, video, music, news, msgmenu, miniprogrampage or json.
        kind: String,
        /// What the message says (see above).
        #[arg(num_args = 0.., allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The account's templates of both kinds, with the keywords their data needs.
    Templates {
        #[command(flatten)]
        account: AccountArgs,
    },
    /// The messages sent so far, most recent first.
    Log {
        #[command(flatten)]
        account: AccountArgs,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Only this user's.
        #[arg(long)]
        openid: Option<String>,
    },
}

fn miniprogram(arg: Option<String>) -> Result<Option<MiniProgram>, String> {
    arg.map(|a| match a.split_once(':') {
        Some((appid, pagepath)) if !appid.is_empty() => Ok(MiniProgram {
            appid: appid.to_owned(),
            pagepath: pagepath.to_owned(),
        }),
        _ => Err(format!("--miniprogram {a:?}: expected APPID:PAGEPATH")),
    })
    .transpose()
}

/// The message `kind ARGS…` describes.
fn custom_content(kind: &str, args: &[String]) -> Result<CustomContent, String> {
    let arg = |i: usize, what: &str| {
        args.get(i)
            .cloned()
            .ok_or_else(|| format!("`send custom OPENID {kind}` needs {what}"))
    };
    let opt = |i: usize| args.get(i).cloned();
    let reply = match kind {
        "text" => Reply::Text {
            content: if args.is_empty() {
                return Err("`send custom OPENID text` needs the text".into());
            } else {
                args.join(" ")
            },
        },
        "image" => Reply::Image {
            media_id: arg(0, "MEDIA_ID")?,
        },
        "voice" => Reply::Voice {
            media_id: arg(0, "MEDIA_ID")?,
        },
        "video" => Reply::Video {
            media_id: arg(0, "MEDIA_ID")?,
            title: opt(1),
            description: opt(2),
        },
        "music" => Reply::Music {
            thumb_media_id: arg(0, "THUMB_MEDIA_ID")?,
            music_url: Some(arg(1, "MUSIC_URL")?),
            hq_music_url: None,
            title: opt(2),
            description: None,
        },
        "news" => Reply::News {
            articles: vec![Article {
                title: arg(0, "TITLE")?,
                url: arg(1, "URL")?,
                description: opt(2).unwrap_or_default(),
                pic_url: opt(3).unwrap_or_default(),
            }],
        },
        "msgmenu" => {
            let list = args
                .iter()
                .skip(1)
                .map(|c| match c.split_once('=') {
                    Some((id, content)) => Ok(MenuChoice {
                        id: id.to_owned(),
                        content: content.to_owned(),
                    }),
                    None => Err(format!("{c:?}: a choice is ID=TEXT, e.g. 101=满意")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(CustomContent::Extra(ExtraCustom::Msgmenu {
                head_content: arg(0, "HEAD and ID=CHOICE…")?,
                list,
                tail_content: String::new(),
            }));
        }
        "miniprogrampage" => {
            return Ok(CustomContent::Extra(ExtraCustom::Miniprogrampage {
                title: arg(0, "TITLE")?,
                appid: arg(1, "APPID")?,
                pagepath: arg(2, "PAGEPATH")?,
                thumb_media_id: arg(3, "THUMB_MEDIA_ID")?,
            }));
        }
        "json" => {
            return serde_json::from_str(&arg(0, "the message as JSON")?).map_err(|e| {
                format!("not a message ({{\"type\":\"text\",\"content\":\"…\"}}): {e}")
            });
        }
        other => {
            return Err(format!(
                "{other:?} is not a message type: text, image, voice, video, music, news, msgmenu, miniprogrampage or json"
            ));
        }
    };
    Ok(CustomContent::Reply(reply))
}

/// A failed send as the one line the CLI prints (and the problems under it).
fn explain(e: SendError) -> String {
    match e {
        SendError::Invalid { message, problems } if !problems.is_empty() => {
            format!("{message}:\n  {}", problems.join("\n  "))
        }
        SendError::Refused { message, id, .. } | SendError::Unknown { message, id, .. } => {
            format!("{message} (send log #{id})")
        }
        other => other.to_string(),
    }
}

pub(super) async fn run(action: SendAction) -> Result<(), String> {
    let (args, sending) = match &action {
        SendAction::Log { account, .. } => (account, false),
        SendAction::Template { account, .. }
        | SendAction::Subscribe { account, .. }
        | SendAction::Templates { account }
        | SendAction::Custom { account, .. } => (account, true),
    };
    if !sending {
        let SendAction::Log { limit, openid, .. } = &action else {
            unreachable!()
        };
        // Only the database: no AppID or secret needed to read the log.
        let sources = load_sources(args.config.as_deref())?;
        let url = sources.get("database_url").unwrap_or("sqlite://wxgate.db");
        let db = crate::db::Db::connect(url)
            .await
            .map_err(|e| format!("configuration error: WXGATE_DATABASE_URL (database_url): {e}"))?;
        let sends = crate::db::sends::list(&db, openid.as_deref(), (*limit).clamp(1, 10_000), 0)
            .await
            .map_err(|e| e.to_string())?;
        if sends.is_empty() {
            println!("no messages sent yet");
        }
        for s in sends {
            let what = match (&s.template_id, &s.msgtype) {
                (Some(t), _) => format!("{} {t}", s.kind),
                (None, Some(m)) => format!("{} {m}", s.kind),
                (None, None) => s.kind.clone(),
            };
            let outcome = match (s.errcode, &s.msgid) {
                (Some(code), _) => format!("{} {code}", s.outcome),
                (None, Some(id)) => format!("{} msgid {id}", s.outcome),
                (None, None) => s.outcome.clone(),
            };
            println!(
                "#{:<5} {}  {}  {:<60}  {:<20}  via {}",
                s.id,
                when(Some(s.at)),
                s.openid,
                what,
                outcome,
                s.caller
            );
        }
        return Ok(());
    }
    let (_, db, platform) = account(args).await?;
    let sends = Sends::new(platform, db);
    let result = match action {
        SendAction::Templates { .. } => {
            for kind in [NotifyKind::Template, NotifyKind::Subscribe] {
                let list = sends
                    .templates(kind, true)
                    .await
                    .map_err(|e| crate::platform::explain(&e))?;
                println!("{} templates ({}):", kind.as_str(), list.len());
                for t in list.iter() {
                    println!(
                        "  {}  {}  {}",
                        t.template_id,
                        t.title,
                        t.keywords().join(" ")
                    );
                }
            }
            return Ok(());
        }
        SendAction::Template {
            openid,
            template_id,
            data,
            url,
            miniprogram: mp,
            client_msg_id,
            ..
        } => {
            let notice = Notice {
                openid,
                template_id,
                data: parse_pairs(&data)?,
                link: url,
                miniprogram: miniprogram(mp)?,
                client_msg_id,
            };
            sends.template(notice, Caller::Cli).await
        }
        SendAction::Subscribe {
            openid,
            template_id,
            data,
            page,
            miniprogram: mp,
            ..
        } => {
            let notice = Notice {
                openid,
                template_id,
                data: parse_pairs(&data)?,
                link: page,
                miniprogram: miniprogram(mp)?,
                client_msg_id: None,
            };
            sends.subscribe(notice, Caller::Cli).await
        }
        SendAction::Custom {
            openid, kind, args, ..
        } => {
            let content = custom_content(&kind, &args)?;
            sends.custom(&openid, &content, Caller::Cli).await
        }
        SendAction::Log { .. } => unreachable!(),
    };
    let sent = result.map_err(explain)?;
    match sent.msgid {
        Some(msgid) => println!("sent (msgid {msgid}, send log #{})", sent.id),
        None => println!("sent (send log #{})", sent.id),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn custom_arguments_make_messages() {
        assert_eq!(
            custom_content("text", &s(&["你好", "世界"]))
                .unwrap()
                .msg_type(),
            "text"
        );
        assert_eq!(
            custom_content("news", &s(&["标题", "https://e.com"]))
                .unwrap()
                .msg_type(),
            "news"
        );
        let menu = custom_content("msgmenu", &s(&["打分", "101=满意", "102=不满意"])).unwrap();
        assert_eq!(menu.msg_type(), "msgmenu");
        assert!(custom_content("msgmenu", &s(&["打分", "101"])).is_err());
        assert!(custom_content("image", &[]).is_err());
        assert!(custom_content("sticker", &s(&["x"])).is_err());
        assert_eq!(
            custom_content("json", &s(&[r#"{"type":"voice","media_id":"M"}"#]))
                .unwrap()
                .msg_type(),
            "voice"
        );
    }
}
