//! Netflix's instance-status override rules (`PeerAwareInstanceRegistryImpl`'s
//! `FirstMatchWinsCompositeRule(DownOrStartingRule, OverrideExistsRule, LeaseExistsRule)` with
//! `AlwaysMatchInstanceStatusRule` as the default), for requests from clients (never
//! replication).

use super::model::Status;

/// The status an instance gets:
/// 1. its own status when that is neither UP nor OUT_OF_SERVICE (DOWN, STARTING, UNKNOWN);
/// 2. else the stored override, if any;
/// 3. else the existing lease's status when that is UP or OUT_OF_SERVICE;
/// 4. else its own status.
pub(crate) fn effective_status(
    instance_status: Status,
    stored_override: Option<Status>,
    existing_lease_status: Option<Status>,
) -> Status {
    if !matches!(instance_status, Status::Up | Status::OutOfService) {
        return instance_status;
    }
    if let Some(o) = stored_override {
        return o;
    }
    if let Some(existing @ (Status::Up | Status::OutOfService)) = existing_lease_status {
        return existing;
    }
    instance_status
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;

    #[test]
    fn rule_chain() {
        // 1. DOWN/STARTING/UNKNOWN win over everything.
        assert_eq!(effective_status(Down, Some(OutOfService), Some(Up)), Down);
        assert_eq!(effective_status(Starting, Some(Up), None), Starting);
        assert_eq!(effective_status(Unknown, None, Some(Up)), Unknown);
        // 2. An override wins over UP / OUT_OF_SERVICE.
        assert_eq!(
            effective_status(Up, Some(OutOfService), Some(Up)),
            OutOfService
        );
        assert_eq!(effective_status(Up, Some(Down), None), Down);
        // 3. The existing lease's UP / OUT_OF_SERVICE stays.
        assert_eq!(effective_status(Up, None, Some(OutOfService)), OutOfService);
        assert_eq!(effective_status(OutOfService, None, Some(Up)), Up);
        // ...but not its DOWN / UNKNOWN.
        assert_eq!(effective_status(Up, None, Some(Unknown)), Up);
        assert_eq!(effective_status(Up, None, Some(Down)), Up);
        // 4. Own status.
        assert_eq!(effective_status(Up, None, None), Up);
        assert_eq!(effective_status(OutOfService, None, None), OutOfService);
    }
}
