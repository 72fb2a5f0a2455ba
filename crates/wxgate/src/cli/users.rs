//! `wxgate users list`: who logged in through the web login.

use clap::Subcommand;

use super::{AccountArgs, load_sources, when};

#[derive(Subcommand, Debug)]
pub(super) enum UsersAction {
    /// Users, most recent login first.
    List {
        #[command(flatten)]
        account: AccountArgs,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

pub(super) async fn run(action: UsersAction) -> Result<(), String> {
    let UsersAction::List {
        account: args,
        limit,
    } = action;
    // Only the database is needed: no AppID or secret to read who logged in.
    let sources = load_sources(args.config.as_deref())?;
    let url = sources.get("database_url").unwrap_or("sqlite://wxgate.db");
    let db = crate::db::Db::connect(url)
        .await
        .map_err(|e| format!("configuration error: WXGATE_DATABASE_URL (database_url): {e}"))?;
    let users = crate::db::users::list_users(&db, limit.clamp(1, 10_000), 0)
        .await
        .map_err(|e| e.to_string())?;
    if users.is_empty() {
        println!("no users yet: nobody has logged in through /auth/");
    }
    for u in users {
        println!(
            "{}  {:<16}  {:<15}  last login {}",
            u.openid,
            u.nickname.as_deref().unwrap_or("-"),
            u.scope,
            when(Some(u.last_login))
        );
    }
    Ok(())
}
