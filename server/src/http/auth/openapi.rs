//! What the OpenAPI document says of access: the security schemes, each
//! operation's need (from [`super::RULES`]), and the auth endpoints.

use super::{COOKIE, LoginRequest, Me, Need, RULES, Role, SetupRequest};

/// Adds the security schemes to the OpenAPI document and, from [`RULES`],
/// what each operation needs: public ones say so (an empty requirement),
/// the others name the token scope (`read` for a viewer's rights, `write`
/// for a trader's or an admin's) and the role, and document 401 and 403.
#[derive(Debug)]
pub(crate) struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        };
        use utoipa::openapi::{RefOr, ResponseBuilder};
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token from `finstage tokens create --user NAME --scope read|write`. A `read` token \
                         has a viewer's rights; a `write` token has its user's role.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                COOKIE,
                "The browser session set by `POST /api/v1/auth/login`.",
            ))),
        );
        for (path, item) in &mut doc.paths.paths {
            let operations = [
                ("GET", &mut item.get),
                ("POST", &mut item.post),
                ("PUT", &mut item.put),
                ("DELETE", &mut item.delete),
                ("PATCH", &mut item.patch),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else { continue };
                let Some(need) = RULES.iter().find(|(m, r, _)| *m == method && r == path).map(|(_, _, n)| *n) else {
                    continue;
                };
                let (security, needs) = match need {
                    Need::Public => (vec![SecurityRequirement::default()], None),
                    Need::Operator => (
                        vec![
                            SecurityRequirement::new("bearer", ["read"]),
                            SecurityRequirement::new::<&str, [&str; 0], &str>("session", []),
                        ],
                        Some("any user or token, or an address in `auth.metrics_allow`".to_owned()),
                    ),
                    Need::Role(role) => {
                        let scope = if role == Role::Viewer { "read" } else { "write" };
                        (
                            vec![
                                SecurityRequirement::new("bearer", [scope]),
                                SecurityRequirement::new::<&str, [&str; 0], &str>("session", []),
                            ],
                            Some(format!("the {role} role (a `{scope}` token)")),
                        )
                    }
                };
                operation.security = Some(security);
                if let Some(needs) = needs {
                    let note = format!("Needs {needs}.");
                    operation.description =
                        Some(operation.description.take().map_or_else(|| note.clone(), |d| format!("{d}\n\n{note}")));
                    let responses = &mut operation.responses.responses;
                    responses.entry("401".into()).or_insert_with(|| {
                        RefOr::T(ResponseBuilder::new().description("No valid session or token").build())
                    });
                    responses.entry("403".into()).or_insert_with(|| {
                        RefOr::T(
                            ResponseBuilder::new().description("The role or token scope does not allow this").build(),
                        )
                    });
                    responses.entry("429".into()).or_insert_with(|| {
                        RefOr::T(
                            ResponseBuilder::new()
                                .description(
                                    "The token is over `auth.token_requests_per_minute`; `Retry-After` says when to \
                                     try again",
                                )
                                .build(),
                        )
                    });
                }
            }
        }
    }
}

/// `POST /api/v1/auth/login` (documentation only; `login` answers).
#[utoipa::path(post, path = "/api/v1/auth/login", request_body = LoginRequest,
    responses((status = 200, description = "Logged in; the session cookie is set"),
        (status = 303, description = "From a form: on to `next`, or back to the login page with the reason"),
        (status = 400, description = "The body is not a login", body = crate::http::error::ErrorBody),
        (status = 401, description = "Wrong user name or password", body = crate::http::error::ErrorBody),
        (status = 429, description = "Too many failed logins; `Retry-After` says when to try again",
            body = crate::http::error::ErrorBody, headers(("retry-after" = u64, description = "Seconds to wait")))))]
#[allow(dead_code, reason = "the OpenAPI document's description of `login`")]
pub(crate) fn doc_login() {}

/// `POST /api/v1/auth/logout`.
#[utoipa::path(post, path = "/api/v1/auth/logout",
    responses((status = 204, description = "The session ended (or there was none)"),
        (status = 303, description = "From a form: on to the login page")))]
#[allow(dead_code, reason = "the OpenAPI document's description of `logout`")]
pub(crate) fn doc_logout() {}

/// `POST /api/v1/auth/setup`.
#[utoipa::path(post, path = "/api/v1/auth/setup", request_body = SetupRequest,
    responses((status = 201, description = "The first admin exists and is logged in"),
        (status = 303, description = "From a form: on to the dashboard, or back with the reason"),
        (status = 400, description = "A bad name or weak password", body = crate::http::error::ErrorBody),
        (status = 403, description = "The link was used, expired, or an admin exists", body = crate::http::error::ErrorBody)))]
#[allow(dead_code, reason = "the OpenAPI document's description of `setup`")]
pub(crate) fn doc_setup() {}

/// `GET /api/v1/auth/me`.
#[utoipa::path(get, path = "/api/v1/auth/me",
    responses((status = 200, description = "Who the request acts for", body = Me),
        (status = 401, description = "Nobody", body = crate::http::error::ErrorBody)))]
#[allow(dead_code, reason = "the OpenAPI document's description of `me`")]
pub(crate) fn doc_me() {}
