#![doc = include_str!("../README.md")]

pub mod mail;
pub mod model;
pub mod password;
pub mod ports;
pub mod token;
pub mod totp;
pub mod values;

pub use model::{ApprovalStatus, NewUser, User};
pub use password::{Password, PasswordError, PasswordHash};
pub use token::{Abilities, Ability, ApiToken, BearerToken, IssuedToken};
pub use values::{EmailAddress, FieldError, PersonName, Username};
