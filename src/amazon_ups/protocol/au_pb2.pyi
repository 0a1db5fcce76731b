from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LinkHello(_message.Message):
    __slots__ = ("version", "nonce")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    version: int
    nonce: bytes
    def __init__(self, version: _Optional[int] = ..., nonce: _Optional[bytes] = ...) -> None: ...

class LinkChallenge(_message.Message):
    __slots__ = ("version", "nonce", "error")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    version: int
    nonce: bytes
    error: str
    def __init__(self, version: _Optional[int] = ..., nonce: _Optional[bytes] = ..., error: _Optional[str] = ...) -> None: ...

class LinkProof(_message.Message):
    __slots__ = ("proof",)
    PROOF_FIELD_NUMBER: _ClassVar[int]
    proof: bytes
    def __init__(self, proof: _Optional[bytes] = ...) -> None: ...

class LinkWelcome(_message.Message):
    __slots__ = ("proof", "error")
    PROOF_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    proof: bytes
    error: str
    def __init__(self, proof: _Optional[bytes] = ..., error: _Optional[str] = ...) -> None: ...

class Warehouse(_message.Message):
    __slots__ = ("id", "x", "y")
    ID_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    id: int
    x: int
    y: int
    def __init__(self, id: _Optional[int] = ..., x: _Optional[int] = ..., y: _Optional[int] = ...) -> None: ...

class Item(_message.Message):
    __slots__ = ("product_id", "description", "count")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    product_id: int
    description: str
    count: int
    def __init__(self, product_id: _Optional[int] = ..., description: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class WorldCreated(_message.Message):
    __slots__ = ("seqnum", "world_id")
    SEQNUM_FIELD_NUMBER: _ClassVar[int]
    WORLD_ID_FIELD_NUMBER: _ClassVar[int]
    seqnum: int
    world_id: int
    def __init__(self, seqnum: _Optional[int] = ..., world_id: _Optional[int] = ...) -> None: ...

class PickupRequest(_message.Message):
    __slots__ = ("seqnum", "package_id", "warehouse", "dest_x", "dest_y", "items", "ups_account")
    SEQNUM_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_ID_FIELD_NUMBER: _ClassVar[int]
    WAREHOUSE_FIELD_NUMBER: _ClassVar[int]
    DEST_X_FIELD_NUMBER: _ClassVar[int]
    DEST_Y_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    UPS_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    seqnum: int
    package_id: int
    warehouse: Warehouse
    dest_x: int
    dest_y: int
    items: _containers.RepeatedCompositeFieldContainer[Item]
    ups_account: int
    def __init__(self, seqnum: _Optional[int] = ..., package_id: _Optional[int] = ..., warehouse: _Optional[_Union[Warehouse, _Mapping]] = ..., dest_x: _Optional[int] = ..., dest_y: _Optional[int] = ..., items: _Optional[_Iterable[_Union[Item, _Mapping]]] = ..., ups_account: _Optional[int] = ...) -> None: ...

class TruckArrived(_message.Message):
    __slots__ = ("seqnum", "package_id", "truck_id", "warehouse_id")
    SEQNUM_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_ID_FIELD_NUMBER: _ClassVar[int]
    TRUCK_ID_FIELD_NUMBER: _ClassVar[int]
    WAREHOUSE_ID_FIELD_NUMBER: _ClassVar[int]
    seqnum: int
    package_id: int
    truck_id: int
    warehouse_id: int
    def __init__(self, seqnum: _Optional[int] = ..., package_id: _Optional[int] = ..., truck_id: _Optional[int] = ..., warehouse_id: _Optional[int] = ...) -> None: ...

class PackageLoaded(_message.Message):
    __slots__ = ("seqnum", "package_id", "truck_id")
    SEQNUM_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_ID_FIELD_NUMBER: _ClassVar[int]
    TRUCK_ID_FIELD_NUMBER: _ClassVar[int]
    seqnum: int
    package_id: int
    truck_id: int
    def __init__(self, seqnum: _Optional[int] = ..., package_id: _Optional[int] = ..., truck_id: _Optional[int] = ...) -> None: ...

class LoadFailed(_message.Message):
    __slots__ = ("seqnum", "package_id", "truck_id", "reason")
    SEQNUM_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_ID_FIELD_NUMBER: _ClassVar[int]
    TRUCK_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    seqnum: int
    package_id: int
    truck_id: int
    reason: str
    def __init__(self, seqnum: _Optional[int] = ..., package_id: _Optional[int] = ..., truck_id: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class PackageRegistered(_message.Message):
    __slots__ = ("seqnum", "package_id", "tracking_number")
    SEQNUM_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_ID_FIELD_NUMBER: _ClassVar[int]
    TRACKING_NUMBER_FIELD_NUMBER: _ClassVar[int]
    seqnum: int
    package_id: int
    tracking_number: str
    def __init__(self, seqnum: _Optional[int] = ..., package_id: _Optional[int] = ..., tracking_number: _Optional[str] = ...) -> None: ...

class OutForDelivery(_message.Message):
    __slots__ = ("seqnum", "package_id", "truck_id")
    SEQNUM_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_ID_FIELD_NUMBER: _ClassVar[int]
    TRUCK_ID_FIELD_NUMBER: _ClassVar[int]
    seqnum: int
    package_id: int
    truck_id: int
    def __init__(self, seqnum: _Optional[int] = ..., package_id: _Optional[int] = ..., truck_id: _Optional[int] = ...) -> None: ...

class Delivered(_message.Message):
    __slots__ = ("seqnum", "package_id", "x", "y")
    SEQNUM_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_ID_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    seqnum: int
    package_id: int
    x: int
    y: int
    def __init__(self, seqnum: _Optional[int] = ..., package_id: _Optional[int] = ..., x: _Optional[int] = ..., y: _Optional[int] = ...) -> None: ...

class DestinationChanged(_message.Message):
    __slots__ = ("seqnum", "package_id", "x", "y")
    SEQNUM_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_ID_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    seqnum: int
    package_id: int
    x: int
    y: int
    def __init__(self, seqnum: _Optional[int] = ..., package_id: _Optional[int] = ..., x: _Optional[int] = ..., y: _Optional[int] = ...) -> None: ...

class AccountCheck(_message.Message):
    __slots__ = ("seqnum", "ups_account")
    SEQNUM_FIELD_NUMBER: _ClassVar[int]
    UPS_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    seqnum: int
    ups_account: int
    def __init__(self, seqnum: _Optional[int] = ..., ups_account: _Optional[int] = ...) -> None: ...

class AccountStatus(_message.Message):
    __slots__ = ("seqnum", "ups_account", "exists")
    SEQNUM_FIELD_NUMBER: _ClassVar[int]
    UPS_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    EXISTS_FIELD_NUMBER: _ClassVar[int]
    seqnum: int
    ups_account: int
    exists: bool
    def __init__(self, seqnum: _Optional[int] = ..., ups_account: _Optional[int] = ..., exists: _Optional[bool] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("seqnum", "origin_seqnum", "message", "package_id")
    SEQNUM_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_SEQNUM_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_ID_FIELD_NUMBER: _ClassVar[int]
    seqnum: int
    origin_seqnum: int
    message: str
    package_id: int
    def __init__(self, seqnum: _Optional[int] = ..., origin_seqnum: _Optional[int] = ..., message: _Optional[str] = ..., package_id: _Optional[int] = ...) -> None: ...

class AmazonToUps(_message.Message):
    __slots__ = ("pickups", "loaded", "account_checks", "worlds", "errors", "acks", "load_failed")
    PICKUPS_FIELD_NUMBER: _ClassVar[int]
    LOADED_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_CHECKS_FIELD_NUMBER: _ClassVar[int]
    WORLDS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    ACKS_FIELD_NUMBER: _ClassVar[int]
    LOAD_FAILED_FIELD_NUMBER: _ClassVar[int]
    pickups: _containers.RepeatedCompositeFieldContainer[PickupRequest]
    loaded: _containers.RepeatedCompositeFieldContainer[PackageLoaded]
    account_checks: _containers.RepeatedCompositeFieldContainer[AccountCheck]
    worlds: _containers.RepeatedCompositeFieldContainer[WorldCreated]
    errors: _containers.RepeatedCompositeFieldContainer[Error]
    acks: _containers.RepeatedScalarFieldContainer[int]
    load_failed: _containers.RepeatedCompositeFieldContainer[LoadFailed]
    def __init__(self, pickups: _Optional[_Iterable[_Union[PickupRequest, _Mapping]]] = ..., loaded: _Optional[_Iterable[_Union[PackageLoaded, _Mapping]]] = ..., account_checks: _Optional[_Iterable[_Union[AccountCheck, _Mapping]]] = ..., worlds: _Optional[_Iterable[_Union[WorldCreated, _Mapping]]] = ..., errors: _Optional[_Iterable[_Union[Error, _Mapping]]] = ..., acks: _Optional[_Iterable[int]] = ..., load_failed: _Optional[_Iterable[_Union[LoadFailed, _Mapping]]] = ...) -> None: ...

class UpsToAmazon(_message.Message):
    __slots__ = ("worlds", "arrived", "out_for_delivery", "delivered", "redirected", "accounts", "errors", "acks", "registered")
    WORLDS_FIELD_NUMBER: _ClassVar[int]
    ARRIVED_FIELD_NUMBER: _ClassVar[int]
    OUT_FOR_DELIVERY_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    REDIRECTED_FIELD_NUMBER: _ClassVar[int]
    ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    ACKS_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    worlds: _containers.RepeatedCompositeFieldContainer[WorldCreated]
    arrived: _containers.RepeatedCompositeFieldContainer[TruckArrived]
    out_for_delivery: _containers.RepeatedCompositeFieldContainer[OutForDelivery]
    delivered: _containers.RepeatedCompositeFieldContainer[Delivered]
    redirected: _containers.RepeatedCompositeFieldContainer[DestinationChanged]
    accounts: _containers.RepeatedCompositeFieldContainer[AccountStatus]
    errors: _containers.RepeatedCompositeFieldContainer[Error]
    acks: _containers.RepeatedScalarFieldContainer[int]
    registered: _containers.RepeatedCompositeFieldContainer[PackageRegistered]
    def __init__(self, worlds: _Optional[_Iterable[_Union[WorldCreated, _Mapping]]] = ..., arrived: _Optional[_Iterable[_Union[TruckArrived, _Mapping]]] = ..., out_for_delivery: _Optional[_Iterable[_Union[OutForDelivery, _Mapping]]] = ..., delivered: _Optional[_Iterable[_Union[Delivered, _Mapping]]] = ..., redirected: _Optional[_Iterable[_Union[DestinationChanged, _Mapping]]] = ..., accounts: _Optional[_Iterable[_Union[AccountStatus, _Mapping]]] = ..., errors: _Optional[_Iterable[_Union[Error, _Mapping]]] = ..., acks: _Optional[_Iterable[int]] = ..., registered: _Optional[_Iterable[_Union[PackageRegistered, _Mapping]]] = ...) -> None: ...
