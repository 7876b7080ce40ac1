//! The web chat widget in a real browser: headless Chromium driven over WebDriver (chromedriver, started
//! here on a free 127.0.0.1 port), on a plain HTML page served by the test from another origin, against the
//! local host's API. Chromium and chromedriver are required (Debian `chromium`, `chromium-driver`;
//! `localstack/test.sh` installs them): without them the tests fail.

use fantoccini::{Client, ClientBuilder, Locator};
use kefu_e2e::harness;
use kefu_local::seed::WechatSeed;
use serde_json::json;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(40);

fn find_binary(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in names {
        for dir in std::env::split_paths(&path).chain([
            PathBuf::from("/usr/bin"),
            PathBuf::from("/usr/lib/chromium"),
        ]) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// chromedriver and a fresh Chromium profile; both go away on drop.
struct Browser {
    driver: Child,
    profile: PathBuf,
    client: Option<Client>,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Browser {
    async fn start() -> Browser {
        let chromium = find_binary(&["chromium", "chromium-browser", "google-chrome"]).expect(
            "Chromium is not installed: `apt-get install -y chromium chromium-driver` (localstack/test.sh does it)",
        );
        let chromedriver = find_binary(&["chromedriver"]).expect(
            "chromedriver is not installed: `apt-get install -y chromium-driver` (localstack/test.sh does it)",
        );
        let port = free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let profile =
            std::env::temp_dir().join(format!("kefu-chromium-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&profile).unwrap();
        let mut browser = Browser {
            driver,
            profile,
            client: None,
        };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--window-size=1000,800",
                    format!("--user-data-dir={}", browser.profile.display()),
                ]
            }),
        );
        let client = ClientBuilder::rustls()
            .expect("TLS roots")
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("WebDriver session with headless Chromium");
        browser.client = Some(client);
        browser
    }

    fn c(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    /// Texts of the elements matching `css`.
    async fn texts(&self, css: &str) -> Vec<String> {
        let mut out = Vec::new();
        for e in self.c().find_all(Locator::Css(css)).await.unwrap() {
            out.push(e.text().await.unwrap_or_default());
        }
        out
    }

    /// Waits until an element matching `css` has exactly `text`.
    async fn wait_text(&self, css: &str, text: &str) {
        let start = Instant::now();
        loop {
            let got = self.texts(css).await;
            if got.iter().any(|t| t == text) {
                return;
            }
            if start.elapsed() > WAIT {
                self.screenshot("timeout").await;
                panic!("no {css} with {text:?}; got {got:?}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Saves a screenshot under the test's temporary directory and returns its path.
    async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.c().screenshot().await.unwrap();
        let path =
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("webchat-widget-{name}.png"));
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot: {}", path.display());
        path
    }

    async fn quit(mut self) {
        if let Some(c) = self.client.take() {
            let _ = c.close().await;
        }
    }
}

/// Serves one plain HTML page on `listener` (any path) from a thread.
fn serve_page(listener: TcpListener, html: String) {
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let html = html.clone();
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                let mut req = Vec::new();
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let (status, body) = if req.starts_with(b"GET / ") {
                    ("200 OK", html)
                } else {
                    ("404 Not Found", String::new())
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
}

/// A site's page with the widget tag, as a customer would paste it.
fn page(api: &str, seed: &WechatSeed) -> String {
    let w = seed.webchat.as_ref().unwrap();
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Hotel</title></head>\
         <body><h1>Grand Hotel</h1><p>Rooms, suites and a view of the river.</p>\
         <script src=\"{api}/webchat/widget.js\" data-channel=\"{}\" data-site-key=\"{}\" data-api=\"{api}\" data-lang=\"en\"></script>\
         </body></html>",
        w.channel_id, w.site_key
    )
}

fn standard(kind: &str) -> String {
    let kind = kefu_domain::model::GreetingKind::parse(kind).unwrap();
    kefu_local::seed::standard_greetings()
        .into_iter()
        .find(|(k, l, _)| *k == kind && l.as_str() == "en")
        .unwrap()
        .2
}

/// A seeded site and the URL of its page, served from an origin of its own that the channel allows.
async fn site(prefix: &str) -> (WechatSeed, String) {
    let h = harness();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let seed = h.seed_webchat(prefix, &[&origin]).await;
    serve_page(listener, page(&h.base_url, &seed));
    (seed, format!("{origin}/"))
}

async fn open_and_send(b: &Browser, url: &str, text: &str) {
    let c = b.c();
    c.goto(url).await.unwrap();
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Id("kefu-launcher"))
        .await
        .expect("launcher")
        .click()
        .await
        .unwrap();
    let input = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("kefu-input"))
        .await
        .unwrap();
    input.send_keys(text).await.unwrap();
    c.find(Locator::Id("kefu-send"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_text(".kefu-msg.kefu-out", text).await;
}

#[tokio::test]
async fn a_visitor_chats_in_the_widget_and_gets_the_offline_greeting_then_an_agent() {
    let h = harness();
    let (seed, url) = site("wcwidget").await;
    let b = Browser::start().await;
    open_and_send(&b, &url, "Do you have a room for tonight? <b>2 guests</b>").await;
    b.wait_text(".kefu-msg.kefu-in", &standard("offline")).await;
    // The visitor's text is shown as text, not markup.
    assert!(b
        .c()
        .find_all(Locator::Css("#kefu-box .kefu-msg b"))
        .await
        .unwrap()
        .is_empty());
    let visitor: String = b
        .c()
        .execute(
            "return localStorage.getItem(arguments[0]);",
            vec![json!(format!(
                "kefu:{}:visitor",
                seed.webchat.as_ref().unwrap().channel_id
            ))],
        )
        .await
        .unwrap()
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        kefu_domain::channels::webchat::is_visitor_id(&visitor),
        "visitor id kept: {visitor:?}"
    );

    // An agent logs in and takes the waiting chat: the header shows who answers.
    let agent = h.set_presence(&seed, 0, "online").await;
    assert_eq!(
        agent["assigned"].as_array().map(Vec::len),
        Some(1),
        "{agent}"
    );
    b.wait_text("#kefu-box .kefu-name", "Amy").await;
    b.wait_text("#kefu-box .kefu-line2", "Reservations · Test")
        .await;
    b.screenshot("offline-then-assigned").await;
    b.quit().await;
}

#[tokio::test]
async fn with_an_agent_online_the_widget_shows_the_online_greeting_and_the_agent() {
    let h = harness();
    let (seed, url) = site("wcwidget-on").await;
    h.set_presence(&seed, 0, "online").await;
    let b = Browser::start().await;
    open_and_send(&b, &url, "你好，我想订房").await;
    b.wait_text(
        ".kefu-msg.kefu-in",
        "Hi, I'm Amy. How can I help you today?",
    )
    .await;
    b.wait_text("#kefu-box .kefu-name", "Amy").await;
    b.wait_text("#kefu-box .kefu-line2", "Reservations · Test")
        .await;
    // Exactly one copy of the visitor's message (the sent bubble and the polled one are the same).
    assert_eq!(b.texts(".kefu-msg.kefu-out").await, ["你好，我想订房"]);
    b.screenshot("online").await;
    b.quit().await;
}
