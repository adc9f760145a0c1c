//! `str_enum!`: an enum stored (and sent) as one fixed spelling per variant, written once:
//! `as_str`, `parse`, `ALL`, `Display` and `FromStr` come from the variant ↔ spelling table.
//!
//! Storage adapters read such columns with `parse(..)?`: an [`UnknownValue`] becomes
//! `StoreError::Unexpected` ("corrupt row").

use crate::StoreError;

/// A spelling that no variant has (a corrupt row, a stale value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct UnknownValue {
    /// What was parsed (`"job state"`).
    pub what: &'static str,
    /// The spelling found.
    pub value: String,
}

impl UnknownValue {
    /// The spelling `value` of a `what` is unknown.
    #[must_use]
    pub fn new(what: &'static str, value: &str) -> Self {
        Self {
            what,
            value: value.to_owned(),
        }
    }
}

impl From<UnknownValue> for StoreError {
    fn from(e: UnknownValue) -> Self {
        StoreError::Unexpected(anyhow::anyhow!("corrupt row: {e}"))
    }
}

/// Declares a `Copy` enum whose variants have fixed spellings:
///
/// ```
/// chom_kernel::str_enum! {
///     /// A light.
///     #[derive(Debug, Clone, Copy, PartialEq, Eq)]
///     pub enum Light: "light" {
///         /// Stop.
///         Red = "red",
///         /// Go.
///         Green = "green",
///     }
/// }
/// assert_eq!(Light::Red.as_str(), "red");
/// assert_eq!(Light::parse("green"), Ok(Light::Green));
/// assert_eq!("green".parse::<Light>(), Ok(Light::Green));
/// assert_eq!(Light::ALL, &[Light::Red, Light::Green]);
/// assert_eq!(Light::parse("blue").unwrap_err().to_string(), "unknown light \"blue\"");
/// ```
///
/// The string after the name says what a bad spelling was, in the [`UnknownValue`].
#[macro_export]
macro_rules! str_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident : $what:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $spelling:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The stored spelling.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $spelling),+
                }
            }

            /// Parses the stored spelling.
            ///
            /// # Errors
            /// A spelling no variant has.
            pub fn parse(s: &str) -> ::core::result::Result<Self, $crate::str_enum::UnknownValue> {
                match s {
                    $($spelling => Ok(Self::$variant),)+
                    other => Err($crate::str_enum::UnknownValue::new($what, other)),
                }
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::core::str::FromStr for $name {
            type Err = $crate::str_enum::UnknownValue;

            fn from_str(s: &str) -> ::core::result::Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use crate::StoreError;

    crate::str_enum! {
        /// A test enum.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Phase: "phase" {
            /// One.
            Waxing = "waxing",
            /// Two.
            Waning = "waning",
        }
    }

    #[test]
    fn every_variant_round_trips_through_its_spelling() {
        for p in Phase::ALL {
            assert_eq!(Phase::parse(p.as_str()), Ok(*p));
            assert_eq!(p.to_string(), p.as_str());
            assert_eq!(p.as_str().parse::<Phase>(), Ok(*p));
        }
        assert_eq!(Phase::ALL.len(), 2);
    }

    #[test]
    fn an_unknown_spelling_is_a_corrupt_row_in_storage_terms() {
        let e = Phase::parse("full").unwrap_err();
        assert_eq!(e.to_string(), "unknown phase \"full\"");
        let store: StoreError = e.into();
        assert!(matches!(store, StoreError::Unexpected(_)));
        assert_eq!(store.to_string(), "corrupt row: unknown phase \"full\"");
    }
}
