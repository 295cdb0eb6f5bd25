//! The kinds of PHI the scrubber reports.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// A category of protected health information.
///
/// The output names ([`Kind::as_str`]) are stable and form the contract of the
/// `deidentify` example: `NAME`, `DATE`, `AGE`, `PHONE`, `FAX`, `EMAIL`, `URL`, `IP`,
/// `SSN`, `MRN`, `ACCOUNT`, `HEALTH_PLAN`, `LICENSE`, `VEHICLE`, `DEVICE`, `ID`,
/// `ADDRESS`, `ZIP`, `LOCATION`, `ORGANIZATION`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum Kind {
    /// Names of patients, relatives, clinicians.
    Name,
    /// All elements of dates except a bare year.
    Date,
    /// Ages over 89.
    Age,
    /// Telephone and pager numbers.
    Phone,
    /// Fax numbers.
    Fax,
    /// E-mail addresses.
    Email,
    /// URLs and web domains.
    Url,
    /// IPv4 and IPv6 addresses.
    Ip,
    /// US social security numbers.
    Ssn,
    /// Medical record numbers.
    Mrn,
    /// Account numbers, including payment card numbers.
    Account,
    /// Health-plan beneficiary, member and policy numbers.
    HealthPlan,
    /// Certificate and licence numbers (DEA, NPI, driver's licence).
    License,
    /// Vehicle identifiers (VIN, plates).
    Vehicle,
    /// Device identifiers and serial numbers.
    Device,
    /// Any other unique identifying number or code.
    Id,
    /// Street addresses and PO boxes.
    Address,
    /// ZIP codes.
    Zip,
    /// Cities, counties, states, countries.
    Location,
    /// Hospitals, clinics and other organisations.
    Organization,
}

impl Kind {
    /// Every kind, in output order.
    pub const ALL: [Kind; 20] = [
        Kind::Name,
        Kind::Date,
        Kind::Age,
        Kind::Phone,
        Kind::Fax,
        Kind::Email,
        Kind::Url,
        Kind::Ip,
        Kind::Ssn,
        Kind::Mrn,
        Kind::Account,
        Kind::HealthPlan,
        Kind::License,
        Kind::Vehicle,
        Kind::Device,
        Kind::Id,
        Kind::Address,
        Kind::Zip,
        Kind::Location,
        Kind::Organization,
    ];

    /// The stable upper-case output name, e.g. `"HEALTH_PLAN"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Name => "NAME",
            Kind::Date => "DATE",
            Kind::Age => "AGE",
            Kind::Phone => "PHONE",
            Kind::Fax => "FAX",
            Kind::Email => "EMAIL",
            Kind::Url => "URL",
            Kind::Ip => "IP",
            Kind::Ssn => "SSN",
            Kind::Mrn => "MRN",
            Kind::Account => "ACCOUNT",
            Kind::HealthPlan => "HEALTH_PLAN",
            Kind::License => "LICENSE",
            Kind::Vehicle => "VEHICLE",
            Kind::Device => "DEVICE",
            Kind::Id => "ID",
            Kind::Address => "ADDRESS",
            Kind::Zip => "ZIP",
            Kind::Location => "LOCATION",
            Kind::Organization => "ORGANIZATION",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = Error;

    /// Parses an output name (case-insensitive), e.g. `"name"` or `"HEALTH_PLAN"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or(Error::UnknownKind { len: s.len() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in Kind::ALL {
            assert_eq!(k.as_str().parse::<Kind>().unwrap(), k);
            assert_eq!(k.to_string().to_lowercase().parse::<Kind>().unwrap(), k);
        }
        assert!("PATIENT".parse::<Kind>().is_err());
    }
}
