//! `wxgate qrcode create SCENE [--expire-secs N | --permanent] [--png FILE]` and `wxgate
//! qrcode list`: QR codes with scenes (`crate::qrcodes`).

use std::path::PathBuf;

use clap::Subcommand;

use super::{AccountArgs, account, when};
use crate::qrcodes::{self, DEFAULT_EXPIRE_SECS, Lifetime};

#[derive(Subcommand, Debug)]
pub(super) enum QrCodeAction {
    /// Create a QR code whose scans report SCENE (digits: a numeric scene; else a string of
    /// 1 to 64 ASCII letters, digits and -_.:@/). Temporary (30 days) unless --permanent.
    Create {
        #[command(flatten)]
        account: AccountArgs,
        scene: String,
        /// Lifetime of a temporary code, 1 to 2592000 (30 days).
        #[arg(long, value_name = "N", conflicts_with = "permanent")]
        expire_secs: Option<u64>,
        /// A permanent code (numeric scenes 1 to 100000; at most 100,000 per account).
        #[arg(long)]
        permanent: bool,
        /// Also download the image and save it here.
        #[arg(long, value_name = "FILE")]
        png: Option<PathBuf>,
    },
    /// The codes created through wxgate, newest first (expired ones too with --all).
    List {
        #[command(flatten)]
        account: AccountArgs,
        #[arg(long)]
        all: bool,
    },
}

pub(super) async fn run(action: QrCodeAction) -> Result<(), String> {
    match action {
        QrCodeAction::Create {
            account: args,
            scene,
            expire_secs,
            permanent,
            png,
        } => {
            let lifetime = if permanent {
                Lifetime::Permanent
            } else {
                Lifetime::Temporary(expire_secs.unwrap_or(DEFAULT_EXPIRE_SECS))
            };
            // Checked before anything is loaded or sent.
            qrcodes::request(&scene, lifetime).map_err(|e| e.to_string())?;
            let (_, db, platform) = account(&args).await?;
            let code = qrcodes::create(&db, &platform, &scene, lifetime)
                .await
                .map_err(|e| e.to_string())?;
            println!("scene:   {} ({})", code.scene, code.kind);
            println!("ticket:  {}", code.ticket);
            println!("image:   {}", code.image_url);
            println!("encodes: {}", code.url);
            println!(
                "expires: {}",
                match code.expires_at {
                    None => "never (permanent)".into(),
                    Some(t) => when(Some(t)),
                }
            );
            if let Some(path) = png {
                let bytes = platform
                    .client
                    .qrcode_image(&code.ticket)
                    .await
                    .map_err(|e| crate::platform::explain(&e))?;
                std::fs::write(&path, &bytes)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                println!("saved:   {} ({} bytes)", path.display(), bytes.len());
            }
            Ok(())
        }
        QrCodeAction::List { account: args, all } => {
            let (_, db, _) = account(&args).await?;
            let codes = qrcodes::list(&db, all).await.map_err(|e| e.to_string())?;
            if codes.is_empty() {
                println!("no QR codes yet: wxgate qrcode create SCENE");
            }
            for c in codes {
                let expiry = match c.expires_at {
                    None => "permanent".to_string(),
                    Some(t) => format!("expires {}", when(Some(t))),
                };
                println!("{:<24} {:<18} {expiry}  {}", c.scene, c.kind, c.image_url);
            }
            Ok(())
        }
    }
}
