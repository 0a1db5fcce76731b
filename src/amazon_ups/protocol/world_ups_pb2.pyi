from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UInitTruck(_message.Message):
    __slots__ = ("id", "x", "y")
    ID_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    id: int
    x: int
    y: int
    def __init__(self, id: _Optional[int] = ..., x: _Optional[int] = ..., y: _Optional[int] = ...) -> None: ...

class UConnect(_message.Message):
    __slots__ = ("worldid", "trucks", "isAmazon")
    WORLDID_FIELD_NUMBER: _ClassVar[int]
    TRUCKS_FIELD_NUMBER: _ClassVar[int]
    ISAMAZON_FIELD_NUMBER: _ClassVar[int]
    worldid: int
    trucks: _containers.RepeatedCompositeFieldContainer[UInitTruck]
    isAmazon: bool
    def __init__(self, worldid: _Optional[int] = ..., trucks: _Optional[_Iterable[_Union[UInitTruck, _Mapping]]] = ..., isAmazon: _Optional[bool] = ...) -> None: ...

class UConnected(_message.Message):
    __slots__ = ("worldid", "result")
    WORLDID_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    worldid: int
    result: str
    def __init__(self, worldid: _Optional[int] = ..., result: _Optional[str] = ...) -> None: ...

class UGoPickup(_message.Message):
    __slots__ = ("truckid", "whid", "seqnum")
    TRUCKID_FIELD_NUMBER: _ClassVar[int]
    WHID_FIELD_NUMBER: _ClassVar[int]
    SEQNUM_FIELD_NUMBER: _ClassVar[int]
    truckid: int
    whid: int
    seqnum: int
    def __init__(self, truckid: _Optional[int] = ..., whid: _Optional[int] = ..., seqnum: _Optional[int] = ...) -> None: ...

class UFinished(_message.Message):
    __slots__ = ("truckid", "x", "y", "status", "seqnum")
    TRUCKID_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SEQNUM_FIELD_NUMBER: _ClassVar[int]
    truckid: int
    x: int
    y: int
    status: str
    seqnum: int
    def __init__(self, truckid: _Optional[int] = ..., x: _Optional[int] = ..., y: _Optional[int] = ..., status: _Optional[str] = ..., seqnum: _Optional[int] = ...) -> None: ...

class UDeliveryMade(_message.Message):
    __slots__ = ("truckid", "packageid", "seqnum")
    TRUCKID_FIELD_NUMBER: _ClassVar[int]
    PACKAGEID_FIELD_NUMBER: _ClassVar[int]
    SEQNUM_FIELD_NUMBER: _ClassVar[int]
    truckid: int
    packageid: int
    seqnum: int
    def __init__(self, truckid: _Optional[int] = ..., packageid: _Optional[int] = ..., seqnum: _Optional[int] = ...) -> None: ...

class UDeliveryLocation(_message.Message):
    __slots__ = ("packageid", "x", "y")
    PACKAGEID_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    packageid: int
    x: int
    y: int
    def __init__(self, packageid: _Optional[int] = ..., x: _Optional[int] = ..., y: _Optional[int] = ...) -> None: ...

class UGoDeliver(_message.Message):
    __slots__ = ("truckid", "packages", "seqnum")
    TRUCKID_FIELD_NUMBER: _ClassVar[int]
    PACKAGES_FIELD_NUMBER: _ClassVar[int]
    SEQNUM_FIELD_NUMBER: _ClassVar[int]
    truckid: int
    packages: _containers.RepeatedCompositeFieldContainer[UDeliveryLocation]
    seqnum: int
    def __init__(self, truckid: _Optional[int] = ..., packages: _Optional[_Iterable[_Union[UDeliveryLocation, _Mapping]]] = ..., seqnum: _Optional[int] = ...) -> None: ...

class UErr(_message.Message):
    __slots__ = ("err", "originseqnum", "seqnum")
    ERR_FIELD_NUMBER: _ClassVar[int]
    ORIGINSEQNUM_FIELD_NUMBER: _ClassVar[int]
    SEQNUM_FIELD_NUMBER: _ClassVar[int]
    err: str
    originseqnum: int
    seqnum: int
    def __init__(self, err: _Optional[str] = ..., originseqnum: _Optional[int] = ..., seqnum: _Optional[int] = ...) -> None: ...

class UQuery(_message.Message):
    __slots__ = ("truckid", "seqnum")
    TRUCKID_FIELD_NUMBER: _ClassVar[int]
    SEQNUM_FIELD_NUMBER: _ClassVar[int]
    truckid: int
    seqnum: int
    def __init__(self, truckid: _Optional[int] = ..., seqnum: _Optional[int] = ...) -> None: ...

class UTruck(_message.Message):
    __slots__ = ("truckid", "status", "x", "y", "seqnum")
    TRUCKID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    SEQNUM_FIELD_NUMBER: _ClassVar[int]
    truckid: int
    status: str
    x: int
    y: int
    seqnum: int
    def __init__(self, truckid: _Optional[int] = ..., status: _Optional[str] = ..., x: _Optional[int] = ..., y: _Optional[int] = ..., seqnum: _Optional[int] = ...) -> None: ...

class UCommands(_message.Message):
    __slots__ = ("pickups", "deliveries", "simspeed", "disconnect", "queries", "acks")
    PICKUPS_FIELD_NUMBER: _ClassVar[int]
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    SIMSPEED_FIELD_NUMBER: _ClassVar[int]
    DISCONNECT_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    ACKS_FIELD_NUMBER: _ClassVar[int]
    pickups: _containers.RepeatedCompositeFieldContainer[UGoPickup]
    deliveries: _containers.RepeatedCompositeFieldContainer[UGoDeliver]
    simspeed: int
    disconnect: bool
    queries: _containers.RepeatedCompositeFieldContainer[UQuery]
    acks: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, pickups: _Optional[_Iterable[_Union[UGoPickup, _Mapping]]] = ..., deliveries: _Optional[_Iterable[_Union[UGoDeliver, _Mapping]]] = ..., simspeed: _Optional[int] = ..., disconnect: _Optional[bool] = ..., queries: _Optional[_Iterable[_Union[UQuery, _Mapping]]] = ..., acks: _Optional[_Iterable[int]] = ...) -> None: ...

class UResponses(_message.Message):
    __slots__ = ("completions", "delivered", "finished", "acks", "truckstatus", "error")
    COMPLETIONS_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    ACKS_FIELD_NUMBER: _ClassVar[int]
    TRUCKSTATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    completions: _containers.RepeatedCompositeFieldContainer[UFinished]
    delivered: _containers.RepeatedCompositeFieldContainer[UDeliveryMade]
    finished: bool
    acks: _containers.RepeatedScalarFieldContainer[int]
    truckstatus: _containers.RepeatedCompositeFieldContainer[UTruck]
    error: _containers.RepeatedCompositeFieldContainer[UErr]
    def __init__(self, completions: _Optional[_Iterable[_Union[UFinished, _Mapping]]] = ..., delivered: _Optional[_Iterable[_Union[UDeliveryMade, _Mapping]]] = ..., finished: _Optional[bool] = ..., acks: _Optional[_Iterable[int]] = ..., truckstatus: _Optional[_Iterable[_Union[UTruck, _Mapping]]] = ..., error: _Optional[_Iterable[_Union[UErr, _Mapping]]] = ...) -> None: ...
