//! The web chat demo page of the local host (`GET /_local/webchat-demo.html`): a plain HTML page of the demo
//! account's site with the widget tag of the `demo-webchat` channel, as a customer would paste it. The
//! widget is loaded from this host (`/webchat/widget.js`), so the page's origin is the host's own, which the
//! demo channel allows.

use crate::seed::{WebChatSeed, WechatSeed};

/// Where the host serves the page.
pub const PATH: &str = "/_local/webchat-demo.html";

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The page, for a host reached as `base` (`http://127.0.0.1:3000`).
pub fn page(base: &str) -> String {
    let site = WebChatSeed::demo();
    let demo = WechatSeed::demo();
    let agent = &demo.agents[0];
    let presence = format!(
        "curl -X PUT {base}/accounts/{}/agents/{}/presence -H 'authorization: Bearer {}' -d '{{\"presence\":\"online\"}}'",
        demo.account_id, agent.agent_id, agent.token
    );
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{name} · web chat demo</title>
<style>
  body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 720px; margin: 40px auto; padding: 0 20px; color: #1f2328; }}
  code, pre {{ background: #f6f8fa; border-radius: 6px; }}
  pre {{ padding: 12px; overflow-x: auto; white-space: pre-wrap; }}
</style>
</head>
<body>
<h1>{name}</h1>
<p>This is a plain page of the demo account's website with the kefu web chat widget on it. Open the chat with
the button at the bottom right and write a message: nobody is online, so the offline greeting answers.</p>
<p>Then log the agent {agent_name} in: the waiting chat is assigned to her at once and the chat header shows her
name and second line. Later visitors (another browser profile) get the online greeting with her name.</p>
<pre>{presence}</pre>
<p>The widget tag of this page:</p>
<pre>&lt;script src="{base}/webchat/widget.js" data-channel="{channel}" data-site-key="{site_key}" async&gt;&lt;/script&gt;</pre>
<script src="/webchat/widget.js" data-channel="{channel}" data-site-key="{site_key}" data-title="{name}" async></script>
</body>
</html>
"#,
        name = escape(&demo.account_name),
        agent_name = escape(&agent.display_name),
        presence = escape(&presence),
        base = escape(base),
        channel = escape(&site.channel_id),
        site_key = escape(&site.site_key),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_embeds_the_demo_widget_tag() {
        let html = page("http://127.0.0.1:3000");
        assert!(html.contains(
            r#"<script src="/webchat/widget.js" data-channel="demo-webchat" data-site-key="kefu-demo-site-key""#
        ));
        assert!(html.contains("Bearer demo-token-amy"));
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
