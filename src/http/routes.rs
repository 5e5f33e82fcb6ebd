//! The route table: every route the server answers is added through
//! [`Routes::add`] with the [`Access`] it needs — there is no other way in —
//! and [`table`] lists them, so a test can walk them all. Each route is its
//! own resource guarded by its method and wrapped in `http::auth::authorize`
//! for its level.

use actix_web::http::Method;
use actix_web::{guard, web, FromRequest, Handler, Responder};

use crate::accounts::Access;
use crate::http::auth;

/// One route: method, path pattern (actix syntax, `{id}` segments) and the
/// level it asks of its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
}

/// Routes being declared: registered on the app (when serving) and listed.
pub struct Routes<'a> {
    cfg: Option<&'a mut web::ServiceConfig>,
    table: Vec<RouteSpec>,
}

impl<'a> Routes<'a> {
    /// Routes registered on `cfg`.
    pub fn on(cfg: &'a mut web::ServiceConfig) -> Routes<'a> {
        Routes {
            cfg: Some(cfg),
            table: Vec::new(),
        }
    }

    /// Adds `method path` answered by `handler`, for callers that pass `access`.
    pub fn add<F, Args>(
        &mut self,
        method: Method,
        path: &'static str,
        access: Access,
        handler: F,
    ) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.table.push(RouteSpec {
            method: method.clone(),
            path,
            access,
        });
        if let Some(cfg) = self.cfg.as_deref_mut() {
            cfg.service(
                web::resource(path)
                    .guard(guard::Method(method.clone()))
                    .route(web::route().method(method).to(handler))
                    .wrap(actix_web::middleware::from_fn(move |req, next| {
                        auth::authorize(access, req, next)
                    })),
            );
        }
        self
    }

    /// `GET path`.
    pub fn get<F, Args>(&mut self, path: &'static str, access: Access, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::GET, path, access, handler)
    }

    /// `POST path`.
    pub fn post<F, Args>(&mut self, path: &'static str, access: Access, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::POST, path, access, handler)
    }
}

/// Every route of the server (all `configure_*` of `http`), in the order
/// they are matched.
pub fn table() -> Vec<RouteSpec> {
    let mut routes = Routes {
        cfg: None,
        table: Vec::new(),
    };
    super::configure_routes(&mut routes);
    routes.table
}
