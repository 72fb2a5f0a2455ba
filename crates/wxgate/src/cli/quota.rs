//! `wxgate quota [PATH]` and `wxgate rid RID`: WeChat's daily quota for the APIs wxgate calls
//! (or one API), and what WeChat recorded for a failed call whose `errmsg` ended in `rid: …`.

use super::{AccountArgs, account, when};
use crate::platform::{cgi_path, explain};

pub(super) async fn quota(args: AccountArgs, path: Option<String>) -> Result<(), String> {
    let paths = match &path {
        Some(p) => vec![cgi_path(p)?],
        None => Vec::new(),
    };
    let (_, _, platform) = account(&args).await?;
    let paths = if paths.is_empty() {
        platform
            .apis_called()
            .into_iter()
            .map(str::to_owned)
            .collect()
    } else {
        paths
    };
    println!(
        "{:<36} {:>12} {:>12} {:>12}",
        "API", "used today", "daily limit", "left"
    );
    let mut failed = None;
    for p in &paths {
        match platform.quota(p).await {
            Ok(r) => println!(
                "{:<36} {:>12} {:>12} {:>12}",
                p, r.quota.used, r.quota.daily_limit, r.quota.remain
            ),
            Err(e) => {
                println!("{p:<36} {}", explain(&e));
                failed.get_or_insert(e);
            }
        }
    }
    println!("(daily counters reset at midnight Beijing time)");
    match failed {
        // One path asked for and it failed: the command failed.
        Some(e) if path.is_some() => Err(explain(&e)),
        _ => Ok(()),
    }
}

pub(super) async fn rid(args: AccountArgs, rid: String) -> Result<(), String> {
    let rid = rid.trim().to_owned();
    if !wechat::openapi::valid_rid(&rid) {
        return Err(format!(
            "{rid:?} is not a request id: it is the end of a failed call's errmsg, like 6650a1b2-1c3d4e5f-2a3b4c5d"
        ));
    }
    let (_, _, platform) = account(&args).await?;
    let r = platform
        .rid(&rid)
        .await
        .map_err(|e| match e.errcode().map(|c| c.0) {
            Some(76001) => format!("WeChat has no call with rid {rid} (they are kept 7 days)"),
            Some(76003) => format!("rid {rid} belongs to another account's call"),
            _ => explain(&e),
        })?;
    println!(
        "invoked:  {} (took {} ms)",
        when(Some(r.invoke_time)),
        r.cost_in_ms
    );
    println!("from:     {}", r.client_ip);
    println!("request:  {}", r.request_url);
    if !r.request_body.is_empty() {
        println!("body:     {}", r.request_body);
    }
    println!("answer:   {}", r.response_body);
    Ok(())
}
