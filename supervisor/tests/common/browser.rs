//! Headless Chromium driven like a person at a browser: it loads pages,
//! types into fields and presses buttons, through the DevTools protocol on
//! a pipe (`--remote-debugging-pipe`: JSON messages ending in a NUL byte,
//! read by the browser on fd 3 and written on fd 4).
//!
//! A pipe rather than `--remote-debugging-port`: no port to race for, no
//! websocket client to add, and the pipe closes when the browser dies, so
//! a crashed browser is an error at once rather than a time-out.
//! `--dump-dom` alone cannot press a button.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How the tests run Chromium: headless, as root in a container (no
/// sandbox, no GPU, no /dev/shm), never reaching outside the machine.
pub const HEADLESS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1200,1600",
];

/// Every wait on the browser ends by this: generous, because a browser
/// starting on a loaded two-core machine can take many seconds.
pub const BROWSER_PATIENCE: Duration = Duration::from_secs(60);

/// One headless Chromium with its own profile and one page (tab).
pub struct Browser {
    child: Child,
    to_browser: std::io::PipeWriter,
    from_browser: mpsc::Receiver<Value>,
    next_id: u64,
    /// The DevTools session of the page.
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub fn launch(program: &Path) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        // The browser reads commands from `commands` and writes answers
        // to `answers`.
        let (commands_read, commands_write) = std::io::pipe().unwrap();
        let (answers_read, answers_write) = std::io::pipe().unwrap();
        let (input, output) = (commands_read.as_raw_fd(), answers_write.as_raw_fd());
        let mut command = Command::new(program);
        command
            .args(HEADLESS)
            .arg("--remote-debugging-pipe")
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork
        // and exec. Both ends are first copied above fd 9 so that placing
        // one on 3 or 4 cannot overwrite the other; dup2 leaves the copies
        // on 3 and 4 open across exec (the originals are close-on-exec).
        unsafe {
            command.pre_exec(move || {
                let a = libc::fcntl(input, libc::F_DUPFD, 10);
                let b = libc::fcntl(output, libc::F_DUPFD, 10);
                if a < 0 || b < 0 || libc::dup2(a, 3) < 0 || libc::dup2(b, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().unwrap();
        // Only the browser holds these ends now: its exit closes the pipe.
        drop(commands_read);
        drop(answers_write);
        let (sender, from_browser) = mpsc::channel();
        std::thread::spawn(move || read_messages(answers_read, sender));
        let mut browser = Browser {
            child,
            to_browser: commands_write,
            from_browser,
            next_id: 0,
            session: String::new(),
            _profile: profile,
        };
        let targets = browser.call("Target.getTargets", json!({}), false);
        let page = targets["targetInfos"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["type"] == "page"))
            .unwrap_or_else(|| panic!("no page among the browser's targets: {targets}"));
        let attached = browser.call(
            "Target.attachToTarget",
            json!({ "targetId": page["targetId"], "flatten": true }),
            false,
        );
        browser.session = attached["sessionId"].as_str().unwrap().to_string();
        browser
    }

    /// Sends one command (to the page's session when `on_page`) and waits
    /// for its answer; a protocol error fails the test.
    fn call(&mut self, method: &str, params: Value, on_page: bool) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if on_page {
            message["sessionId"] = json!(self.session);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.to_browser
            .write_all(&bytes)
            .unwrap_or_else(|e| panic!("the browser is gone ({e}) before {method}"));
        let deadline = Instant::now() + BROWSER_PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let answer = match self.from_browser.recv_timeout(left) {
                Ok(a) => a,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("no answer to {method} within {BROWSER_PATIENCE:?}")
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("the browser closed its pipe before answering {method}")
                }
            };
            if answer["id"] != id {
                continue; // an event, or the answer to something else
            }
            assert!(
                answer["error"].is_null(),
                "{method} failed: {}",
                answer["error"]
            );
            return answer["result"].clone();
        }
    }

    /// Starts loading `url` in the page (as typing it in the address bar).
    pub fn go(&mut self, url: &str) {
        let answer = self.call("Page.navigate", json!({ "url": url }), true);
        assert!(
            answer["errorText"].is_null(),
            "loading {url}: {}",
            answer["errorText"]
        );
    }

    /// The value of JavaScript `expression` in the page (awaited when it
    /// is a promise).
    pub fn eval(&mut self, expression: &str) -> Value {
        let answer = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
            true,
        );
        assert!(
            answer["exceptionDetails"].is_null(),
            "{expression}: {}",
            answer["exceptionDetails"]
        );
        answer["result"]["value"].clone()
    }

    /// Waits until `condition` (JavaScript) is true in the page, which may
    /// be loading meanwhile: a page between documents is simply asked
    /// again. Fails after [`BROWSER_PATIENCE`], showing the page's text.
    pub fn wait_until(&mut self, what: &str, condition: &str) {
        let deadline = Instant::now() + BROWSER_PATIENCE;
        let guarded = format!(
            "(() => {{ try {{ return document.readyState === 'complete' && !!({condition}); }} \
             catch (e) {{ return false; }} }})()"
        );
        loop {
            if self.eval(&guarded) == json!(true) {
                return;
            }
            if Instant::now() > deadline {
                let text = self.eval("document.location.href + '\\n' + (document.body ? document.body.innerText : '')");
                panic!("{what}: not seen within {BROWSER_PATIENCE:?}; the page:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The text of the page as a person reads it.
    pub fn text(&mut self) -> String {
        self.eval("document.body ? document.body.innerText : ''")
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the browser's NUL-terminated JSON messages until its end of the
/// pipe closes.
fn read_messages(mut from: std::io::PipeReader, to: mpsc::Sender<Value>) {
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        while let Some(end) = pending.iter().position(|&b| b == 0) {
            let message: Vec<u8> = pending.drain(..=end).collect();
            if let Ok(value) = serde_json::from_slice(&message[..end])
                && to.send(value).is_err()
            {
                return;
            }
        }
    }
}
