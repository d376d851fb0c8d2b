//! A fake Kratos: `/sessions/whoami` answers a session for one known cookie and 401 otherwise;
//! `/self-service/login/browser` is the login page.

use serde_json::json;

use crate::http::{Message, Server};

/// The cookie Kratos sets for a session.
pub const SESSION_COOKIE: &str = "ory_kratos_session";
/// The only valid session token.
pub const TOKEN: &str = "valid-session-token";
/// The identity behind [`TOKEN`].
pub const IDENTITY_ID: &str = "7a1c2b3d-0000-4000-8000-00000000abcd";
/// Its email.
pub const EMAIL: &str = "ana@example.com";
/// Its name.
pub const NAME: &str = "Ana";
/// The login page path.
pub const LOGIN_PATH: &str = "/self-service/login/browser";

/// A running fake Kratos.
pub struct FakeKratos {
    server: Server,
}

impl FakeKratos {
    /// Starts it on a free port.
    pub fn start() -> FakeKratos {
        FakeKratos {
            server: Server::start(answer),
        }
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.server.port())
    }

    /// Stops it: connections are refused from now on.
    pub fn stop(&mut self) {
        self.server.stop();
    }
}

fn has_session(request: &Message) -> bool {
    request.header("cookie").is_some_and(|cookies| {
        cookies
            .split(';')
            .any(|cookie| cookie.trim() == format!("{SESSION_COOKIE}={TOKEN}"))
    })
}

fn answer(request: &Message) -> crate::http::Response {
    let json_type = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    if request.target.starts_with("/sessions/whoami") {
        if !has_session(request) {
            let body = json!({"error": {"code": 401, "status": "Unauthorized", "message": "No valid session credentials found in the request."}});
            return (401, json_type, body.to_string());
        }
        let body = json!({
            "id": "0b9c5f3e-1111-4000-8000-000000000001",
            "active": true,
            "expires_at": "2099-01-01T00:00:00Z",
            "authenticated_at": "2026-01-01T00:00:00Z",
            "identity": {
                "id": IDENTITY_ID,
                "schema_id": "default",
                "state": "active",
                "traits": {"email": EMAIL, "name": NAME},
            },
        });
        return (200, json_type, body.to_string());
    }
    if request.target.starts_with(LOGIN_PATH) {
        let html = vec![("Content-Type".to_owned(), "text/html".to_owned())];
        return (200, html, "<html><body>Sign in</body></html>".to_owned());
    }
    (404, Vec::new(), "not found".to_owned())
}
