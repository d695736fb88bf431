//! What a request meets before the router looks at its target: a CORS preflight is answered
//! (`--cors`), then Basic authentication is required (`--auth`). Reserved paths and files alike
//! are behind it.
//!
//! The preflight comes first because browsers never send credentials on one (Fetch standard
//! §4.8): with both flags on, a protected cross-origin page could otherwise never pass its
//! preflight. The answer says only which methods and headers are allowed, nothing about the
//! files.
//!
//! Cost: with neither flag, two branches per request; with `--auth`, one [`Credentials::check`].

use crate::http::auth::{Credentials, Denied};
use crate::http::parse::RequestHead;
use crate::http::{Method, Status};
use crate::response::cors::Preflight;
use crate::response::plan::{RareField, ResponsePlan};
use crate::response::reason::Reason;

/// A request answered before it reaches the files. Small, so the common path (no stop) moves no
/// plan around: the handler builds the plan of a stop with [`Stop::plan`].
#[derive(Debug)]
pub(crate) enum Stop {
    /// A CORS preflight under `--cors`: 204.
    Preflight(Preflight),
    /// `--auth` refused the request: 401.
    Unauthorized(Denied),
}

impl Stop {
    pub(crate) fn plan(self) -> ResponsePlan {
        match self {
            Stop::Preflight(preflight) => ResponsePlan {
                rare: Some(RareField::Preflight(preflight)),
                reason: Some(Reason::Preflight),
                ..ResponsePlan::empty(Status::NO_CONTENT)
            },
            Stop::Unauthorized(denied) => ResponsePlan {
                rare: Some(RareField::Challenge),
                ..ResponsePlan::error(Status::UNAUTHORIZED).because(Reason::Unauthorized(denied))
            },
        }
    }
}

/// Whether `req` stops here: a preflight under `cors`, or a request without the credentials
/// `auth` asks for.
pub(crate) fn admit(req: &RequestHead<'_>, cors: bool, auth: Option<&Credentials>) -> Option<Stop> {
    let fields = &req.fields;
    if cors && req.method == Method::Options {
        let preflight = Preflight::from_request(
            fields.origin,
            fields.cors_request_method,
            fields.cors_request_headers,
        );
        if let Some(preflight) = preflight {
            return Some(Stop::Preflight(preflight));
        }
    }
    auth?
        .check(fields.authorization)
        .err()
        .map(Stop::Unauthorized)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Version;
    use crate::http::parse::{BodyFraming, Fields};

    fn request(method: Method, fields: Fields<'_>) -> RequestHead<'_> {
        RequestHead {
            method,
            method_token: "X",
            target: "/",
            version: Version::Http11,
            keep_alive: true,
            framing: BodyFraming::None,
            expect_continue: false,
            fields,
            len: 0,
        }
    }

    #[test]
    fn preflight_before_auth() {
        let creds = Credentials::parse("ann:secret").unwrap();
        let preflight = Fields {
            origin: true,
            cors_request_method: true,
            ..Fields::default()
        };
        let plan = admit(&request(Method::Options, preflight), true, Some(&creds))
            .unwrap()
            .plan();
        assert_eq!(plan.status, Status::NO_CONTENT);
        assert!(matches!(plan.rare, Some(RareField::Preflight(_))));
        // Without --cors the same request needs credentials like any other.
        let plan = admit(&request(Method::Options, preflight), false, Some(&creds))
            .unwrap()
            .plan();
        assert_eq!(plan.status, Status::UNAUTHORIZED);
        assert!(matches!(plan.rare, Some(RareField::Challenge)));
        // A preflight only under --cors, and without --auth everything else passes.
        assert!(admit(&request(Method::Options, preflight), false, None).is_none());
        assert!(admit(&request(Method::Get, preflight), true, None).is_none());
    }

    #[test]
    fn auth_answers_401_with_the_reason() {
        let creds = Credentials::parse("ann:secret").unwrap();
        let wrong = Fields {
            authorization: Some(b"Basic Ym9iOnNlY3JldA=="),
            ..Fields::default()
        };
        let plan = admit(&request(Method::Get, wrong), false, Some(&creds))
            .unwrap()
            .plan();
        assert_eq!(plan.reason, Some(Reason::Unauthorized(Denied::Wrong)));
        let right = Fields {
            authorization: Some(b"Basic YW5uOnNlY3JldA=="),
            ..Fields::default()
        };
        assert!(admit(&request(Method::Get, right), false, Some(&creds)).is_none());
    }
}
