//! `wxgate token status`: the cached base access_token and jsapi_ticket, never the token
//! unless asked.

use clap::Subcommand;

use super::{AccountArgs, account, when};
use crate::platform::{TokenApi, explain};

#[derive(Subcommand, Debug)]
pub(super) enum TokenAction {
    /// Expiry, source and fetch counts of the cached credentials (never the token itself).
    Status {
        #[command(flatten)]
        account: AccountArgs,
        /// Also print the access_token (fetching one if none is cached). Keep it secret.
        #[arg(long)]
        reveal: bool,
    },
}

pub(super) async fn run(action: TokenAction) -> Result<(), String> {
    let TokenAction::Status {
        account: args,
        reveal,
    } = action;
    let (_, _, platform) = account(&args).await?;
    println!(
        "token API: {} ({})",
        platform.api.as_str(),
        match platform.api {
            TokenApi::Stable => "cgi-bin/stable_token",
            TokenApi::Classic => "cgi-bin/token",
        }
    );
    for credential in [&platform.access_token, &platform.jsapi_ticket] {
        let s = credential.status().await;
        println!("{}:", s.kind);
        match s.expires_in {
            Some(left) if left > 0 => {
                println!("  cached, expires in {left} s at {}", when(s.expires_at))
            }
            Some(_) => println!("  expired at {}", when(s.expires_at)),
            None => println!("  not fetched yet (fetched on first use)"),
        }
        println!("  last fetched: {}", when(s.fetched_at));
        println!(
            "  fetches from WeChat: {} (forced refreshes today: {})",
            s.fetch_count, s.forced_today
        );
    }
    if reveal {
        let token = platform.access_token.get().await.map_err(|e| explain(&e))?;
        println!("access_token: {token}");
    }
    Ok(())
}
