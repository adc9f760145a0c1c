//! `/api/v1/auth/*`: sign-up, verification, login, session, passwords, 2FA, tokens — one
//! module per area, re-exported here.

use crate::error::{ApiError, Problem};
use crate::extract::{Auth, Body};
use crate::ratelimit;
use crate::request_id::current_request_id;
use crate::routes::views::{OrganizationView, TenantView, UserView};
use crate::wiring::Services;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use chom_auth::{Abilities, Ability, ApiToken, IssuedToken};
use chom_tenancy::identity::{Registration, SecondFactor};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

mod password;
mod session;
mod signup;
mod tokens;
mod two_factor;

pub use password::*;
pub use session::*;
pub use signup::*;
pub use tokens::*;
pub use two_factor::*;
