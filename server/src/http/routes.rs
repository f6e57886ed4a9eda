//! [`Routes`]: the REST router with its paths noted, shared by `api` and the
//! route modules it merges (in a module of its own so that those need not
//! import `api`, nor `api` them for more than their routes).

use axum::Router;
use axum::routing::MethodRouter;

use crate::state::AppState;

/// A router that notes the path of each route added to it. axum cannot list
/// a router's routes; the API is built through this so that its paths are
/// known, and a test checks the OpenAPI document has every one.
#[derive(Debug, Default)]
pub(super) struct Routes {
    router: Router<AppState>,
    paths: Vec<&'static str>,
}

impl Routes {
    pub(super) fn route(mut self, path: &'static str, methods: MethodRouter<AppState>) -> Self {
        self.router = self.router.route(path, methods);
        self.paths.push(path);
        self
    }

    pub(super) fn merge(mut self, other: Self) -> Self {
        self.router = self.router.merge(other.router);
        self.paths.extend(other.paths);
        self
    }

    pub(super) fn into_router(self) -> Router<AppState> {
        self.router
    }

    /// The paths added so far, in order.
    pub(super) fn paths(&self) -> &[&'static str] {
        &self.paths
    }
}
