//! ISO 3166-1 countries, from the maintained `rust_iso3166` crate (249 entries).

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Country {
    /// Alpha-2 code, upper case: the stored form.
    pub code: &'static str,
    pub alpha3: &'static str,
    pub name: &'static str,
}

impl From<&rust_iso3166::CountryCode> for Country {
    fn from(c: &rust_iso3166::CountryCode) -> Self {
        Country { code: c.alpha2, alpha3: c.alpha3, name: c.name }
    }
}

/// Every country, ordered by English name.
pub fn all() -> Vec<Country> {
    let mut countries: Vec<Country> = rust_iso3166::ALL.iter().map(Country::from).collect();
    countries.sort_by(|a, b| a.name.cmp(b.name));
    countries
}

/// By alpha-2 code, alpha-3 code or English name, ignoring case and surrounding space (the
/// forms a person types in a spreadsheet).
pub fn find(input: &str) -> Option<Country> {
    let wanted = input.trim();
    if wanted.is_empty() {
        return None;
    }
    let by_code = rust_iso3166::ALL
        .iter()
        .find(|c| c.alpha2.eq_ignore_ascii_case(wanted) || c.alpha3.eq_ignore_ascii_case(wanted))
        .map(Country::from);
    by_code.or_else(|| BY_LOWER_CASE_NAME.get(wanted.to_lowercase().as_str()).copied())
}

/// The countries by lower-cased English name, made once (an import looks up a country a row).
static BY_LOWER_CASE_NAME: std::sync::LazyLock<std::collections::HashMap<String, Country>> =
    std::sync::LazyLock::new(|| rust_iso3166::ALL.iter().map(|c| (c.name.to_lowercase(), Country::from(c))).collect());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_the_whole_iso_list() {
        let all = all();
        assert_eq!(all.len(), 249);
        assert!(all.iter().all(|c| c.code.len() == 2 && c.code.chars().all(|ch| ch.is_ascii_uppercase())));
    }

    #[test]
    fn finds_by_code_or_name() {
        assert_eq!(find("co").unwrap().name, "Colombia");
        assert_eq!(find(" ESP ").unwrap().code, "ES");
        assert_eq!(find("colombia").unwrap().code, "CO");
        assert_eq!(find("XX"), None);
        for country in all() {
            assert_eq!(find(&country.name.to_uppercase()), Some(country));
            assert_eq!(find(&country.name.to_lowercase()), Some(country));
        }
        assert_eq!(find("CÔTE D'IVOIRE").map(|c| c.code), Some("CI"));
        assert_eq!(find(""), None);
    }
}
