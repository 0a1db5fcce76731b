from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AProduct(_message.Message):
    __slots__ = ("id", "description", "count")
    ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    id: int
    description: str
    count: int
    def __init__(self, id: _Optional[int] = ..., description: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class AInitWarehouse(_message.Message):
    __slots__ = ("id", "x", "y")
    ID_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    id: int
    x: int
    y: int
    def __init__(self, id: _Optional[int] = ..., x: _Optional[int] = ..., y: _Optional[int] = ...) -> None: ...

class AConnect(_message.Message):
    __slots__ = ("worldid", "initwh", "isAmazon")
    WORLDID_FIELD_NUMBER: _ClassVar[int]
    INITWH_FIELD_NUMBER: _ClassVar[int]
    ISAMAZON_FIELD_NUMBER: _ClassVar[int]
    worldid: int
    initwh: _containers.RepeatedCompositeFieldContainer[AInitWarehouse]
    isAmazon: bool
    def __init__(self, worldid: _Optional[int] = ..., initwh: _Optional[_Iterable[_Union[AInitWarehouse, _Mapping]]] = ..., isAmazon: _Optional[bool] = ...) -> None: ...

class AConnected(_message.Message):
    __slots__ = ("worldid", "result")
    WORLDID_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    worldid: int
    result: str
    def __init__(self, worldid: _Optional[int] = ..., result: _Optional[str] = ...) -> None: ...

class APack(_message.Message):
    __slots__ = ("whnum", "things", "shipid", "seqnum")
    WHNUM_FIELD_NUMBER: _ClassVar[int]
    THINGS_FIELD_NUMBER: _ClassVar[int]
    SHIPID_FIELD_NUMBER: _ClassVar[int]
    SEQNUM_FIELD_NUMBER: _ClassVar[int]
    whnum: int
    things: _containers.RepeatedCompositeFieldContainer[AProduct]
    shipid: int
    seqnum: int
    def __init__(self, whnum: _Optional[int] = ..., things: _Optional[_Iterable[_Union[AProduct, _Mapping]]] = ..., shipid: _Optional[int] = ..., seqnum: _Optional[int] = ...) -> None: ...

class APacked(_message.Message):
    __slots__ = ("shipid", "seqnum")
    SHIPID_FIELD_NUMBER: _ClassVar[int]
    SEQNUM_FIELD_NUMBER: _ClassVar[int]
    shipid: int
    seqnum: int
    def __init__(self, shipid: _Optional[int] = ..., seqnum: _Optional[int] = ...) -> None: ...

class ALoaded(_message.Message):
    __slots__ = ("shipid", "seqnum")
    SHIPID_FIELD_NUMBER: _ClassVar[int]
    SEQNUM_FIELD_NUMBER: _ClassVar[int]
    shipid: int
    seqnum: int
    def __init__(self, shipid: _Optional[int] = ..., seqnum: _Optional[int] = ...) -> None: ...

class APutOnTruck(_message.Message):
    __slots__ = ("whnum", "truckid", "shipid", "seqnum")
    WHNUM_FIELD_NUMBER: _ClassVar[int]
    TRUCKID_FIELD_NUMBER: _ClassVar[int]
    SHIPID_FIELD_NUMBER: _ClassVar[int]
    SEQNUM_FIELD_NUMBER: _ClassVar[int]
    whnum: int
    truckid: int
    shipid: int
    seqnum: int
    def __init__(self, whnum: _Optional[int] = ..., truckid: _Optional[int] = ..., shipid: _Optional[int] = ..., seqnum: _Optional[int] = ...) -> None: ...

class APurchaseMore(_message.Message):
    __slots__ = ("whnum", "things", "seqnum")
    WHNUM_FIELD_NUMBER: _ClassVar[int]
    THINGS_FIELD_NUMBER: _ClassVar[int]
    SEQNUM_FIELD_NUMBER: _ClassVar[int]
    whnum: int
    things: _containers.RepeatedCompositeFieldContainer[AProduct]
    seqnum: int
    def __init__(self, whnum: _Optional[int] = ..., things: _Optional[_Iterable[_Union[AProduct, _Mapping]]] = ..., seqnum: _Optional[int] = ...) -> None: ...

class AErr(_message.Message):
    __slots__ = ("err", "originseqnum", "seqnum")
    ERR_FIELD_NUMBER: _ClassVar[int]
    ORIGINSEQNUM_FIELD_NUMBER: _ClassVar[int]
    SEQNUM_FIELD_NUMBER: _ClassVar[int]
    err: str
    originseqnum: int
    seqnum: int
    def __init__(self, err: _Optional[str] = ..., originseqnum: _Optional[int] = ..., seqnum: _Optional[int] = ...) -> None: ...

class AQuery(_message.Message):
    __slots__ = ("packageid", "seqnum")
    PACKAGEID_FIELD_NUMBER: _ClassVar[int]
    SEQNUM_FIELD_NUMBER: _ClassVar[int]
    packageid: int
    seqnum: int
    def __init__(self, packageid: _Optional[int] = ..., seqnum: _Optional[int] = ...) -> None: ...

class APackage(_message.Message):
    __slots__ = ("packageid", "status", "seqnum")
    PACKAGEID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SEQNUM_FIELD_NUMBER: _ClassVar[int]
    packageid: int
    status: str
    seqnum: int
    def __init__(self, packageid: _Optional[int] = ..., status: _Optional[str] = ..., seqnum: _Optional[int] = ...) -> None: ...

class ACommands(_message.Message):
    __slots__ = ("buy", "topack", "load", "queries", "simspeed", "disconnect", "acks")
    BUY_FIELD_NUMBER: _ClassVar[int]
    TOPACK_FIELD_NUMBER: _ClassVar[int]
    LOAD_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    SIMSPEED_FIELD_NUMBER: _ClassVar[int]
    DISCONNECT_FIELD_NUMBER: _ClassVar[int]
    ACKS_FIELD_NUMBER: _ClassVar[int]
    buy: _containers.RepeatedCompositeFieldContainer[APurchaseMore]
    topack: _containers.RepeatedCompositeFieldContainer[APack]
    load: _containers.RepeatedCompositeFieldContainer[APutOnTruck]
    queries: _containers.RepeatedCompositeFieldContainer[AQuery]
    simspeed: int
    disconnect: bool
    acks: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, buy: _Optional[_Iterable[_Union[APurchaseMore, _Mapping]]] = ..., topack: _Optional[_Iterable[_Union[APack, _Mapping]]] = ..., load: _Optional[_Iterable[_Union[APutOnTruck, _Mapping]]] = ..., queries: _Optional[_Iterable[_Union[AQuery, _Mapping]]] = ..., simspeed: _Optional[int] = ..., disconnect: _Optional[bool] = ..., acks: _Optional[_Iterable[int]] = ...) -> None: ...

class AResponses(_message.Message):
    __slots__ = ("arrived", "ready", "loaded", "finished", "error", "acks", "packagestatus")
    ARRIVED_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    LOADED_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ACKS_FIELD_NUMBER: _ClassVar[int]
    PACKAGESTATUS_FIELD_NUMBER: _ClassVar[int]
    arrived: _containers.RepeatedCompositeFieldContainer[APurchaseMore]
    ready: _containers.RepeatedCompositeFieldContainer[APacked]
    loaded: _containers.RepeatedCompositeFieldContainer[ALoaded]
    finished: bool
    error: _containers.RepeatedCompositeFieldContainer[AErr]
    acks: _containers.RepeatedScalarFieldContainer[int]
    packagestatus: _containers.RepeatedCompositeFieldContainer[APackage]
    def __init__(self, arrived: _Optional[_Iterable[_Union[APurchaseMore, _Mapping]]] = ..., ready: _Optional[_Iterable[_Union[APacked, _Mapping]]] = ..., loaded: _Optional[_Iterable[_Union[ALoaded, _Mapping]]] = ..., finished: _Optional[bool] = ..., error: _Optional[_Iterable[_Union[AErr, _Mapping]]] = ..., acks: _Optional[_Iterable[int]] = ..., packagestatus: _Optional[_Iterable[_Union[APackage, _Mapping]]] = ...) -> None: ...
