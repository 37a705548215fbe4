//! What the registry keeps about an instance (Netflix's `InstanceInfo`, minus the parts that are
//! computed at output: the lease timestamps live in the registry's lease slots).

/// An instance status. Declared in name order, so `Ord` sorts like Netflix's `TreeMap` of names
/// (used for `apps__hashcode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// DOWN
    Down,
    /// OUT_OF_SERVICE
    OutOfService,
    /// STARTING
    Starting,
    /// UNKNOWN
    Unknown,
    /// UP
    Up,
}

impl Status {
    /// All statuses, in name order.
    pub const ALL: [Status; 5] = [
        Status::Down,
        Status::OutOfService,
        Status::Starting,
        Status::Unknown,
        Status::Up,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Down => "DOWN",
            Status::OutOfService => "OUT_OF_SERVICE",
            Status::Starting => "STARTING",
            Status::Unknown => "UNKNOWN",
            Status::Up => "UP",
        }
    }

    /// Parses a status name, case-insensitively; `None` when it is no status.
    pub fn parse(s: &str) -> Option<Status> {
        let s = s.trim();
        Status::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
    }

    /// Like Netflix's `InstanceStatus.toEnum`: anything unrecognised is UNKNOWN.
    pub fn parse_lenient(s: &str) -> Status {
        Status::parse(s).unwrap_or(Status::Unknown)
    }

    /// Index into per-status count arrays.
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The last action on an instance, as listed in `actionType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionType {
    /// Registered (or re-registered).
    Added,
    /// Status changed.
    Modified,
    /// Cancelled or evicted.
    Deleted,
}

impl ActionType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionType::Added => "ADDED",
            ActionType::Modified => "MODIFIED",
            ActionType::Deleted => "DELETED",
        }
    }
}

/// `dataCenterInfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataCenterInfo {
    /// The Java class (`@class` / `class=`).
    pub class: String,
    /// `MyOwn`, `Amazon`, ...
    pub name: String,
    /// Amazon metadata, when given.
    pub metadata: Option<Vec<(String, String)>>,
}

/// The Java class Netflix writes for a non-Amazon data center.
pub const DEFAULT_DATA_CENTER_CLASS: &str =
    "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo";
/// The Java class Netflix writes for Amazon.
pub const AMAZON_DATA_CENTER_CLASS: &str = "com.netflix.appinfo.AmazonInfo";
/// What empty metadata is written as.
pub const EMPTY_MAP_CLASS: &str = "java.util.Collections$EmptyMap";

/// One registered instance, as the registry keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceInfo {
    /// The instance id (`instanceId`, else `metadata.instanceId`, else the host name).
    pub instance_id: String,
    /// Upper-cased application name.
    pub app: String,
    /// `appGroupName`.
    pub app_group_name: Option<String>,
    /// `ipAddr` (not necessarily a valid IP).
    pub ip_addr: String,
    /// `sid`.
    pub sid: Option<String>,
    /// `hostName`.
    pub host_name: String,
    /// The effective status.
    pub status: Status,
    /// `overriddenStatus`.
    pub overridden_status: Status,
    /// `port.$`.
    pub port: u16,
    /// `port.@enabled`.
    pub port_enabled: bool,
    /// `securePort.$`.
    pub secure_port: u16,
    /// `securePort.@enabled`.
    pub secure_port_enabled: bool,
    /// `countryId`.
    pub country_id: i64,
    /// `dataCenterInfo`.
    pub data_center_info: DataCenterInfo,
    /// `leaseInfo.renewalIntervalInSecs`.
    pub renewal_interval_secs: u32,
    /// `leaseInfo.durationInSecs` (always positive here).
    pub duration_secs: u32,
    /// `metadata`, in first-seen key order, keys unique.
    pub metadata: Vec<(String, String)>,
    /// `homePageUrl`.
    pub home_page_url: Option<String>,
    /// `statusPageUrl`.
    pub status_page_url: Option<String>,
    /// `healthCheckUrl`.
    pub health_check_url: Option<String>,
    /// `secureHealthCheckUrl`.
    pub secure_health_check_url: Option<String>,
    /// `vipAddress` (comma-separated list).
    pub vip_address: Option<String>,
    /// `secureVipAddress` (comma-separated list).
    pub secure_vip_address: Option<String>,
    /// `asgName`.
    pub asg_name: Option<String>,
    /// `lastUpdatedTimestamp` (ms).
    pub last_updated_timestamp: u64,
    /// `lastDirtyTimestamp` (ms).
    pub last_dirty_timestamp: u64,
    /// `actionType`.
    pub action_type: ActionType,
}

impl InstanceInfo {
    /// An UP instance with Netflix's defaults for everything not given: `app` is upper-cased,
    /// `port` enabled, secure port 7002 disabled, `MyOwn` data center, 30 s renewals, a 90 s
    /// lease, empty metadata, timestamps 0 (the registry sets `lastUpdatedTimestamp`).
    pub fn new(app: &str, instance_id: &str, host_name: &str, ip_addr: &str, port: u16) -> Self {
        Self {
            instance_id: instance_id.to_string(),
            app: app.to_uppercase(),
            app_group_name: None,
            ip_addr: ip_addr.to_string(),
            sid: None,
            host_name: host_name.to_string(),
            status: Status::Up,
            overridden_status: Status::Unknown,
            port,
            port_enabled: true,
            secure_port: 7002,
            secure_port_enabled: false,
            country_id: 1,
            data_center_info: DataCenterInfo {
                class: DEFAULT_DATA_CENTER_CLASS.to_string(),
                name: "MyOwn".to_string(),
                metadata: None,
            },
            renewal_interval_secs: 30,
            duration_secs: 90,
            metadata: Vec::new(),
            home_page_url: None,
            status_page_url: None,
            health_check_url: None,
            secure_health_check_url: None,
            vip_address: Some(app.to_lowercase()),
            secure_vip_address: None,
            asg_name: None,
            last_updated_timestamp: 0,
            last_dirty_timestamp: 0,
            action_type: ActionType::Added,
        }
    }

    /// Sets a metadata entry, keeping the key's position if it exists.
    pub fn set_metadata(&mut self, key: &str, value: &str) {
        if let Some(entry) = self.metadata.iter_mut().find(|(k, _)| k == key) {
            entry.1 = value.to_string();
        } else {
            self.metadata.push((key.to_string(), value.to_string()));
        }
    }

    /// Whether `vips` (a comma-separated list) names `vip` (case-insensitively, like Netflix).
    pub(crate) fn vip_matches(list: Option<&str>, vip: &str) -> bool {
        list.is_some_and(|l| l.split(',').any(|v| v.trim().eq_ignore_ascii_case(vip)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_order_is_name_order() {
        let mut names: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
        let sorted = {
            let mut v = names.clone();
            v.sort_unstable();
            v
        };
        assert_eq!(names, sorted);
        names.dedup();
        assert_eq!(names.len(), 5);
    }

    #[test]
    fn status_parse() {
        assert_eq!(Status::parse("out_of_service"), Some(Status::OutOfService));
        assert_eq!(Status::parse(" UP "), Some(Status::Up));
        assert_eq!(Status::parse("BOGUS"), None);
        assert_eq!(Status::parse_lenient("BOGUS"), Status::Unknown);
    }

    #[test]
    fn vip_lists() {
        assert!(InstanceInfo::vip_matches(Some("a, orders ,b"), "ORDERS"));
        assert!(!InstanceInfo::vip_matches(Some("orders-x"), "orders"));
        assert!(!InstanceInfo::vip_matches(None, "orders"));
    }
}
