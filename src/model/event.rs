//! The event vocabulary: the atomic event kinds a record can carry, the names (Alibaba canonical
//! and S3 aliases) and groups a rule can subscribe to, and the mapping between them.

use std::fmt;

/// One atomic event kind. A record has exactly one; a rule subscribes to a set of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    PutObject,
    PostObject,
    CopyObject,
    InitiateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AppendObject,
    PutSymlink,
    GetObject,
    DeleteObject,
    DeleteObjects,
    AbortMultipartUpload,
    /// A delete without version id on a versioned bucket: only a delete marker was created.
    /// Alibaba sends no notification for it; S3 calls it `ObjectRemoved:DeleteMarkerCreated`.
    DeleteMarkerCreated,
    UpdateObjectMeta,
    ChangeStorageClass,
    ReplicationObjectCreated,
    ReplicationObjectRemoved,
    ReplicationObjectModified,
    FinishRestore,
}

impl EventKind {
    /// Every kind, in catalogue order.
    pub const ALL: [EventKind; 20] = [
        Self::PutObject,
        Self::PostObject,
        Self::CopyObject,
        Self::InitiateMultipartUpload,
        Self::UploadPart,
        Self::UploadPartCopy,
        Self::CompleteMultipartUpload,
        Self::AppendObject,
        Self::PutSymlink,
        Self::GetObject,
        Self::DeleteObject,
        Self::DeleteObjects,
        Self::AbortMultipartUpload,
        Self::DeleteMarkerCreated,
        Self::UpdateObjectMeta,
        Self::ChangeStorageClass,
        Self::ReplicationObjectCreated,
        Self::ReplicationObjectRemoved,
        Self::ReplicationObjectModified,
        Self::FinishRestore,
    ];

    /// The canonical (Alibaba OSS) event name, as it appears in OSS messages.
    pub fn canonical_name(self) -> &'static str {
        match self {
            Self::PutObject => "ObjectCreated:PutObject",
            Self::PostObject => "ObjectCreated:PostObject",
            Self::CopyObject => "ObjectCreated:CopyObject",
            Self::InitiateMultipartUpload => "ObjectCreated:InitiateMultipartUpload",
            Self::UploadPart => "ObjectCreated:UploadPart",
            Self::UploadPartCopy => "ObjectCreated:UploadPartCopy",
            Self::CompleteMultipartUpload => "ObjectCreated:CompleteMultipartUpload",
            Self::AppendObject => "ObjectCreated:AppendObject",
            Self::PutSymlink => "ObjectCreated:PutSymlink",
            Self::GetObject => "ObjectDownloaded:GetObject",
            Self::DeleteObject => "ObjectRemoved:DeleteObject",
            Self::DeleteObjects => "ObjectRemoved:DeleteObjects",
            Self::AbortMultipartUpload => "ObjectRemoved:AbortMultipartUpload",
            Self::DeleteMarkerCreated => "ObjectRemoved:DeleteMarkerCreated",
            Self::UpdateObjectMeta => "ObjectModified:UpdateObjectMeta",
            Self::ChangeStorageClass => "ObjectModified:ChangeStorageClass",
            Self::ReplicationObjectCreated => "ObjectReplication:ObjectCreated",
            Self::ReplicationObjectRemoved => "ObjectReplication:ObjectRemoved",
            Self::ReplicationObjectModified => "ObjectReplication:ObjectModified",
            Self::FinishRestore => "ObjectRestore:FinishRestore",
        }
    }

    /// The `eventName` of an S3-schema message (AWS writes it without the `s3:` prefix).
    /// Kinds S3 has no name for keep their canonical name; GetObject uses MinIO's name.
    pub fn s3_name(self) -> &'static str {
        match self {
            Self::PutObject => "ObjectCreated:Put",
            Self::PostObject => "ObjectCreated:Post",
            Self::CopyObject => "ObjectCreated:Copy",
            Self::CompleteMultipartUpload => "ObjectCreated:CompleteMultipartUpload",
            Self::DeleteObject | Self::DeleteObjects => "ObjectRemoved:Delete",
            Self::DeleteMarkerCreated => "ObjectRemoved:DeleteMarkerCreated",
            Self::GetObject => "ObjectAccessed:Get",
            other => other.canonical_name(),
        }
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }

    /// Parses the event name of a record: a canonical name or an S3 alias of one operation.
    /// `delete_marker` turns a DeleteObject/DeleteObjects into [`EventKind::DeleteMarkerCreated`].
    pub fn parse_record_event(name: &str, delete_marker: bool) -> Result<EventKind, String> {
        let kind = Self::ALL
            .into_iter()
            .find(|k| k.canonical_name() == name)
            .or_else(|| s3_record_alias(name))
            .ok_or_else(|| {
                format!(
                    "unknown event name {name:?}; valid names: {}",
                    record_event_names().join(", ")
                )
            })?;
        match (kind, delete_marker) {
            (_, false) => Ok(kind),
            (Self::DeleteObject | Self::DeleteObjects | Self::DeleteMarkerCreated, true) => {
                Ok(Self::DeleteMarkerCreated)
            }
            (other, true) => Err(format!(
                "delete_marker is only valid on ObjectRemoved:DeleteObject or \
                 ObjectRemoved:DeleteObjects, not on {}",
                other.canonical_name()
            )),
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.canonical_name())
    }
}

fn s3_record_alias(name: &str) -> Option<EventKind> {
    Some(match name {
        "s3:ObjectCreated:Put" => EventKind::PutObject,
        "s3:ObjectCreated:Post" => EventKind::PostObject,
        "s3:ObjectCreated:Copy" => EventKind::CopyObject,
        "s3:ObjectCreated:CompleteMultipartUpload" => EventKind::CompleteMultipartUpload,
        "s3:ObjectRemoved:Delete" => EventKind::DeleteObject,
        "s3:ObjectRemoved:DeleteMarkerCreated" => EventKind::DeleteMarkerCreated,
        _ => return None,
    })
}

/// Every name a record may carry.
pub fn record_event_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = EventKind::ALL.iter().map(|k| k.canonical_name()).collect();
    names.extend([
        "s3:ObjectCreated:Put",
        "s3:ObjectCreated:Post",
        "s3:ObjectCreated:Copy",
        "s3:ObjectCreated:CompleteMultipartUpload",
        "s3:ObjectRemoved:Delete",
        "s3:ObjectRemoved:DeleteMarkerCreated",
    ]);
    names
}

/// A set of event kinds (what a rule subscribes to), as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EventSet(u32);

impl EventSet {
    pub const EMPTY: EventSet = EventSet(0);

    pub fn of(kinds: &[EventKind]) -> EventSet {
        EventSet(kinds.iter().fold(0, |acc, k| acc | k.bit()))
    }

    pub fn contains(self, kind: EventKind) -> bool {
        self.0 & kind.bit() != 0
    }

    pub fn union(self, other: EventSet) -> EventSet {
        EventSet(self.0 | other.0)
    }

    pub fn intersection(self, other: EventSet) -> EventSet {
        EventSet(self.0 & other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The kinds in this set, in catalogue order.
    pub fn kinds(self) -> impl Iterator<Item = EventKind> {
        EventKind::ALL
            .into_iter()
            .filter(move |k| self.contains(*k))
    }

    /// Parses one name a rule may subscribe to: a canonical name, a group
    /// (`ObjectCreated:*`, `ObjectCreatedGroup`, `ObjectCreated:All`, …) or an S3 name
    /// (`s3:ObjectCreated:*`, `s3:ObjectCreated:Put`, `s3:ObjectRemoved:Delete`, …).
    pub fn parse_rule_event(name: &str) -> Result<EventSet, String> {
        use EventKind::*;
        if let Some(kind) = EventKind::ALL
            .into_iter()
            .find(|k| k.canonical_name() == name)
        {
            return Ok(EventSet::of(&[kind]));
        }
        let kinds: &[EventKind] = match name {
            "ObjectCreated:*" | "ObjectCreatedGroup" | "ObjectCreated:All" => &[
                PutObject,
                PostObject,
                CopyObject,
                InitiateMultipartUpload,
                UploadPart,
                UploadPartCopy,
                CompleteMultipartUpload,
                AppendObject,
                PutSymlink,
            ],
            "ObjectRemoved:*" | "ObjectRemovedGroup" | "ObjectRemoved:All" => {
                &[DeleteObject, DeleteObjects, AbortMultipartUpload]
            }
            "ObjectDownloaded:*" | "ObjectDownloadedGroup" | "ObjectDownloaded:All" => &[GetObject],
            "ObjectModified:*" => &[UpdateObjectMeta, ChangeStorageClass],
            "ObjectReplication:*" => &[
                ReplicationObjectCreated,
                ReplicationObjectRemoved,
                ReplicationObjectModified,
            ],
            "ObjectRestore:*" => &[FinishRestore],
            "s3:ObjectCreated:*" => &[PutObject, PostObject, CopyObject, CompleteMultipartUpload],
            "s3:ObjectCreated:Put" => &[PutObject],
            "s3:ObjectCreated:Post" => &[PostObject],
            "s3:ObjectCreated:Copy" => &[CopyObject],
            "s3:ObjectCreated:CompleteMultipartUpload" => &[CompleteMultipartUpload],
            "s3:ObjectRemoved:*" => &[DeleteObject, DeleteObjects, DeleteMarkerCreated],
            "s3:ObjectRemoved:Delete" => &[DeleteObject, DeleteObjects],
            "s3:ObjectRemoved:DeleteMarkerCreated" => &[DeleteMarkerCreated],
            _ => {
                return Err(format!(
                    "unknown event name {name:?}; valid names: {}",
                    rule_event_names().join(", ")
                ));
            }
        };
        Ok(EventSet::of(kinds))
    }
}

/// Every name a rule may subscribe to.
pub fn rule_event_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = EventKind::ALL.iter().map(|k| k.canonical_name()).collect();
    names.extend([
        "ObjectCreated:*",
        "ObjectCreatedGroup",
        "ObjectCreated:All",
        "ObjectRemoved:*",
        "ObjectRemovedGroup",
        "ObjectRemoved:All",
        "ObjectDownloaded:*",
        "ObjectDownloadedGroup",
        "ObjectDownloaded:All",
        "ObjectModified:*",
        "ObjectReplication:*",
        "ObjectRestore:*",
        "s3:ObjectCreated:*",
        "s3:ObjectCreated:Put",
        "s3:ObjectCreated:Post",
        "s3:ObjectCreated:Copy",
        "s3:ObjectCreated:CompleteMultipartUpload",
        "s3:ObjectRemoved:*",
        "s3:ObjectRemoved:Delete",
        "s3:ObjectRemoved:DeleteMarkerCreated",
    ]);
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_canonical_name_round_trips_as_record_and_rule_event() {
        for kind in EventKind::ALL {
            let name = kind.canonical_name();
            assert_eq!(EventKind::parse_record_event(name, false), Ok(kind));
            assert_eq!(EventSet::parse_rule_event(name), Ok(EventSet::of(&[kind])));
        }
    }

    #[test]
    fn groups_expand_to_their_members() {
        for alias in ["ObjectCreated:*", "ObjectCreatedGroup", "ObjectCreated:All"] {
            let set = EventSet::parse_rule_event(alias).unwrap();
            assert_eq!(set.kinds().count(), 9, "{alias}");
            assert!(set.contains(EventKind::AppendObject));
            assert!(!set.contains(EventKind::GetObject));
        }
        let removed = EventSet::parse_rule_event("ObjectRemovedGroup").unwrap();
        assert!(removed.contains(EventKind::DeleteObjects));
        assert!(
            !removed.contains(EventKind::DeleteMarkerCreated),
            "Alibaba never notifies it"
        );
        let s3_removed = EventSet::parse_rule_event("s3:ObjectRemoved:*").unwrap();
        assert!(s3_removed.contains(EventKind::DeleteMarkerCreated));
        let s3_created = EventSet::parse_rule_event("s3:ObjectCreated:*").unwrap();
        assert_eq!(
            s3_created.kinds().collect::<Vec<_>>(),
            vec![
                EventKind::PutObject,
                EventKind::PostObject,
                EventKind::CopyObject,
                EventKind::CompleteMultipartUpload
            ]
        );
        let downloaded = EventSet::parse_rule_event("ObjectDownloaded:All").unwrap();
        assert_eq!(downloaded, EventSet::of(&[EventKind::GetObject]));
    }

    #[test]
    fn s3_aliases_map_to_the_jd_cloud_operations() {
        let cases = [
            ("s3:ObjectCreated:Put", EventKind::PutObject),
            ("s3:ObjectCreated:Post", EventKind::PostObject),
            ("s3:ObjectCreated:Copy", EventKind::CopyObject),
            (
                "s3:ObjectCreated:CompleteMultipartUpload",
                EventKind::CompleteMultipartUpload,
            ),
            ("s3:ObjectRemoved:Delete", EventKind::DeleteObject),
        ];
        for (alias, kind) in cases {
            assert_eq!(EventKind::parse_record_event(alias, false), Ok(kind));
            assert!(EventSet::parse_rule_event(alias).unwrap().contains(kind));
        }
    }

    #[test]
    fn delete_marker_turns_deletes_into_delete_marker_created() {
        for name in ["ObjectRemoved:DeleteObject", "ObjectRemoved:DeleteObjects"] {
            assert_eq!(
                EventKind::parse_record_event(name, true),
                Ok(EventKind::DeleteMarkerCreated)
            );
        }
        let err = EventKind::parse_record_event("ObjectCreated:PutObject", true).unwrap_err();
        assert!(err.contains("delete_marker"), "{err}");
    }

    #[test]
    fn unknown_names_list_the_valid_ones() {
        let err = EventKind::parse_record_event("ObjectCreated:Put", false).unwrap_err();
        assert!(err.contains("ObjectCreated:PutObject") && err.contains("s3:ObjectCreated:Put"));
        let err = EventSet::parse_rule_event("ObjectCreated").unwrap_err();
        assert!(err.contains("ObjectCreatedGroup"), "{err}");
        assert!(EventKind::parse_record_event("ObjectCreated:*", false).is_err());
    }

    #[test]
    fn s3_names_of_messages() {
        assert_eq!(EventKind::PutObject.s3_name(), "ObjectCreated:Put");
        assert_eq!(EventKind::DeleteObjects.s3_name(), "ObjectRemoved:Delete");
        assert_eq!(EventKind::UploadPart.s3_name(), "ObjectCreated:UploadPart");
    }
}
