//! Error handlers: how a denial is answered, and which handler answers it.
//!
//! Selection is upstream's: the rule's handlers are checked in order and exactly one may be
//! responsible (two is a 500); if none is, `errors.fallback` is walked and the first
//! responsible handler answers; a disabled or unknown fallback name met on the way is a 500;
//! if nothing is responsible, a 500.

pub mod json;
pub mod redirect;
pub mod when;
pub mod www_authenticate;

use http::Response;
use oathkeeper_core::handler::{ErrorHandlerConfig, Family};

use super::{CompileError, Denial, OriginalRequest, ResponseBody};

/// A compiled error handler.
#[derive(Debug)]
pub enum ErrorHandler {
    /// `json`.
    Json(json::Json),
    /// `redirect`.
    Redirect(redirect::Redirect),
    /// `www_authenticate`.
    WwwAuthenticate(www_authenticate::WwwAuthenticate),
}

impl ErrorHandler {
    /// Compiles error handler `id` from its merged config.
    pub fn compile(id: &str, config: &serde_json::Value) -> Result<ErrorHandler, CompileError> {
        let typed = ErrorHandlerConfig::decode(id, config)
            .map_err(|e| CompileError::config(Family::ErrorHandler, id, e))?;
        Ok(match typed {
            ErrorHandlerConfig::Json(c) => ErrorHandler::Json(json::Json::compile(&c)?),
            ErrorHandlerConfig::Redirect(c) => {
                ErrorHandler::Redirect(redirect::Redirect::compile(&c)?)
            }
            ErrorHandlerConfig::WwwAuthenticate(c) => {
                ErrorHandler::WwwAuthenticate(www_authenticate::WwwAuthenticate::compile(&c)?)
            }
        })
    }

    fn when(&self) -> &when::When {
        match self {
            ErrorHandler::Json(h) => &h.when,
            ErrorHandler::Redirect(h) => &h.when,
            ErrorHandler::WwwAuthenticate(h) => &h.when,
        }
    }

    /// Whether this handler is responsible for `denial`.
    pub fn responsible(&self, denial: &Denial, request: &OriginalRequest<'_>) -> bool {
        self.when().matches(denial, request)
    }

    /// Answers `denial`.
    pub fn handle(&self, denial: &Denial, request: &OriginalRequest<'_>) -> Response<ResponseBody> {
        match self {
            ErrorHandler::Json(h) => h.handle(denial),
            ErrorHandler::Redirect(h) => match h.handle(request) {
                Ok(response) => response,
                Err(failure) => json::json_error(&failure, false),
            },
            ErrorHandler::WwwAuthenticate(h) => h.handle(),
        }
    }
}

/// A fallback entry: a handler, or why the name cannot be used (disabled, unknown, bad config).
pub type Fallback = Result<ErrorHandler, CompileError>;

/// Picks the handler for `denial`: the rule's handlers, then the fallbacks.
pub fn select<'h>(
    rule_handlers: &'h [ErrorHandler],
    fallback: &'h [Fallback],
    denial: &Denial,
    request: &OriginalRequest<'_>,
) -> Result<&'h ErrorHandler, Denial> {
    let mut chosen = None;
    for handler in rule_handlers {
        if handler.responsible(denial, request) {
            if chosen.is_some() {
                return Err(Denial::internal(
                    "Found more than one error handlers to be responsible",
                ));
            }
            chosen = Some(handler);
        }
    }
    if let Some(handler) = chosen {
        return Ok(handler);
    }
    for entry in fallback {
        match entry {
            Ok(handler) if handler.responsible(denial, request) => return Ok(handler),
            Ok(_) => {}
            Err(reason) => return Err(Denial::internal(reason.to_string())),
        }
    }
    Err(Denial::internal(
        "no matching error handling strategy was found",
    ))
}

/// Answers `denial` with the selected handler, or a plain JSON 500 when none can be selected.
pub fn respond(
    rule_handlers: &[ErrorHandler],
    fallback: &[Fallback],
    denial: &Denial,
    request: &OriginalRequest<'_>,
) -> Response<ResponseBody> {
    match select(rule_handlers, fallback, denial, request) {
        Ok(handler) => handler.handle(denial, request),
        Err(failure) => {
            tracing::warn!(reason = %failure.reason, "no error handler could answer");
            json::json_error(&failure, false)
        }
    }
}

#[cfg(test)]
mod tests;
