//! nginx's server-names hash, sized for the names on this server.
//!
//! nginx puts every exact `server_name` of a listening address in one hash table whose buckets
//! are `server_names_hash_bucket_size` bytes (64 by default) and whose size it searches up to
//! `server_names_hash_max_size` (512). A name too long for a bucket (a 253-character domain)
//! fails `nginx -t` ("could not build server_names_hash, you should increase
//! server_names_hash_bucket_size"), and many names (1,000 sites) make it warn ("could not build
//! optimal server_names_hash"). So the agent writes both sizes, computed the way nginx's
//! `ngx_hash_init` does (same element size, same key hash, same search), into an `http`-level
//! snippet each time it tests the configuration.

use std::collections::BTreeSet;

/// `sizeof(void *)` on the 64-bit servers the agent runs on.
const PTR: usize = 8;
/// nginx rounds the bucket size up to its cache line (64 bytes on x86-64 and arm64).
const CACHE_LINE: usize = 64;
/// The smallest bucket the agent asks for: two cache lines hold a few names each, so the table
/// stays small.
const MIN_BUCKET: usize = 2 * CACHE_LINE;

fn align(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

/// `NGX_HASH_ELT_SIZE`: a pointer, then the length (2 bytes) and the name, aligned.
fn element(name: &str) -> usize {
    PTR + align(name.len() + 2, PTR)
}

/// `ngx_hash(key, c) = key * 31 + c` over the lower-cased name, on a 64-bit `ngx_uint_t`.
fn key(name: &str) -> u64 {
    name.bytes().fold(0_u64, |k, c| {
        k.wrapping_mul(31)
            .wrapping_add(u64::from(c.to_ascii_lowercase()))
    })
}

/// What to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// `server_names_hash_bucket_size`.
    pub bucket_size: usize,
    /// `server_names_hash_max_size`.
    pub max_size: usize,
    /// How many distinct names they are for.
    pub names: usize,
    /// The longest name's length.
    pub longest: usize,
}

/// The first table size from nginx's own starting point at which every bucket holds its
/// names, as `ngx_hash_init` searches.
fn first_fit(elements: &[(u64, usize)], bucket_size: usize, limit: usize) -> Option<usize> {
    let room = bucket_size - PTR;
    let start = (elements.len() / (room / (2 * PTR))).max(1);
    let mut load = vec![0_usize; limit];
    (start..=limit).find(|&size| {
        load[..size].fill(0);
        elements.iter().all(|(k, len)| {
            // The key modulo the size is below `size`, which is at most `limit`.
            let slot = usize::try_from(k % size as u64).unwrap_or(0);
            load[slot] += len;
            load[slot] <= room
        })
    })
}

/// Sizes for `names` (exact names; wildcards and regular expressions are not in this table).
pub fn sizes<'a>(names: impl IntoIterator<Item = &'a str>) -> Sizes {
    let names: BTreeSet<String> = names
        .into_iter()
        .map(str::to_ascii_lowercase)
        .filter(|n| !n.is_empty() && !n.starts_with('~') && !n.starts_with('.') && !n.contains('*'))
        .collect();
    let elements: Vec<(u64, usize)> = names.iter().map(|n| (key(n), element(n))).collect();
    let longest_element = elements.iter().map(|(_, len)| *len).max().unwrap_or(0);
    let mut bucket_size = align((longest_element + PTR).max(MIN_BUCKET), CACHE_LINE);
    // A table of size `limit` gives every name its own bucket short of identical keys; if
    // some keys still collide past a bucket, a bigger bucket holds them.
    let limit = (names.len() * 8).max(512);
    let size = loop {
        if let Some(size) = first_fit(&elements, bucket_size, limit) {
            break size;
        }
        bucket_size *= 2;
    };
    // Headroom for names nginx sees that the agent did not count; at most 1,000 above, since
    // beyond a max size of 10,000 nginx only tries the last 1,000 sizes below it.
    let max_size = (size + (size / 2).min(1000)).max(512);
    Sizes {
        bucket_size,
        max_size,
        names: names.len(),
        longest: names.iter().map(String::len).max().unwrap_or(0),
    }
}

/// The exact names of every `server_name` directive in `config` (one directive per line, as
/// the agent writes them; anything nginx would not put in the exact-name hash is skipped).
pub fn server_names(config: &str) -> Vec<String> {
    config
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("server_name"))
        .filter(|rest| rest.starts_with(char::is_whitespace))
        .flat_map(|rest| {
            rest.split(';')
                .next()
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The snippet.
pub fn conf(s: &Sizes) -> String {
    format!(
        "# Managed by chom-agent: nginx's server-names hash, sized for this server's {} names \
         (the longest {} characters).\nserver_names_hash_bucket_size {};\nserver_names_hash_max_size {};\n",
        s.names, s.longest, s.bucket_size, s.max_size
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_name_gets_a_bucket_that_holds_it() {
        let long = "a".repeat(253);
        let s = sizes([long.as_str()]);
        assert!(s.bucket_size >= element(&long) + PTR);
        assert_eq!(s.bucket_size % CACHE_LINE, 0);
        assert_eq!(s.longest, 253);
        // Short names alone: two cache lines, nginx's default search limit.
        assert_eq!(
            sizes(["example.com", "www.example.com"]),
            Sizes {
                bucket_size: 128,
                max_size: 512,
                names: 2,
                longest: 15
            }
        );
    }

    #[test]
    fn many_names_fit_below_the_max_size() {
        let names: Vec<String> = (0..2000).map(|i| format!("site-{i}.example.com")).collect();
        let s = sizes(names.iter().map(String::as_str));
        let elements: Vec<(u64, usize)> = names.iter().map(|n| (key(n), element(n))).collect();
        let fit = first_fit(&elements, s.bucket_size, s.max_size).unwrap_or(usize::MAX);
        assert!(fit <= s.max_size, "{s:?}");
        assert!(s.max_size <= 10_000 || s.max_size - 1000 <= fit, "{s:?}");
    }

    #[test]
    fn server_names_are_read_from_the_agents_vhosts() {
        let conf = "server {\n    server_name a.com www.a.com;\n    server_name_in_redirect off;\n}\nserver {\n  server_name ~^x *.b.com .c.com d.com;\n}\n";
        assert_eq!(
            server_names(conf),
            vec!["a.com", "www.a.com", "~^x", "*.b.com", ".c.com", "d.com"]
        );
        assert_eq!(
            sizes(server_names(conf).iter().map(String::as_str)).names,
            3
        );
    }
}
