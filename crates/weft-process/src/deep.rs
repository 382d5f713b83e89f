//! Decoding and encoding a value nested to any depth: a serde `Deserializer` and `Serializer`
//! adapter that grows the stack on demand, looking at it only every few levels of nesting.
//!
//! serde decodes a nested value recursively, a few frames a level, and a stack overflow aborts
//! the program. [`Deep`] wraps a deserializer and everything it hands to the value's
//! `Deserialize` impls (visitors, sequence, map and enum accesses, seeds, the deserializers of
//! `Some` and newtypes), so that each nested value passes through one of its `deserialize_*`
//! methods, which carries the depth by value. Every [`CHECK_EVERY`] levels, and at every level
//! whose value is larger than [`BIG`], it asks `stacker` whether [`RED_ZONE`] bytes of stack are
//! left; if not, the rest of that value decodes on a new segment of [`STACK_SIZE`] bytes, on the
//! same thread.
//!
//! Encoding recurses the same way, and [`Deep`] wraps a serializer too ([`to_extend`]): each
//! value handed to it (an element, a field, a map's key or value, the content of `Some`, a
//! newtype or a variant) is handed on as a [`Level`], whose `serialize` carries the depth and
//! looks at the stack by the same rule, and the sequence, tuple, map and struct serializers it
//! returns wrap their values so. The bytes are postcard's own.
//!
//! `serde_stacker` does the same at every value, scalars included: 1M `(u32, u32)` pairs took
//! 2.5× plain postcard's time in `benches/decode.rs` (1.6× its instructions). Here a scalar
//! costs an add and a test, and only every eighth level of nesting reads the stack pointer
//! (the bench compares the three; BENCHMARKS.md has the figures). (serde_stacker's `Serializer`
//! grows the stack only around the items of `collect_seq` and `collect_map`: an `Option`, a
//! newtype, a struct or an enum nested in one another still overflows.)
//! The levels between two looks must fit in the red zone: a level's frames grow with the size
//! of the value decoded there (the adapter moves it once more, doubling that part in a release
//! build: 33 KiB a level for a 16 KiB enum, where postcard alone takes 16 KiB), so a value
//! larger than [`BIG`] looks at every level, as serde_stacker does. (The review of 2026-11-27
//! overflowed 2 MiB threads with 16 KiB values looked at every eighth level.) Encoding takes
//! values by reference, so its frames are small whatever the value (see [`Level`]).
//!
//! This file has no dependency on the rest of the crate; the decode bench includes it by path.

use std::cell::RefCell;
use std::fmt;

use serde::de::{
    DeserializeSeed, Deserializer, EnumAccess, Error, MapAccess, SeqAccess, VariantAccess, Visitor,
};
use serde::ser::{
    Serialize, SerializeMap, SerializeSeq, SerializeStruct, SerializeStructVariant, SerializeTuple,
    SerializeTupleStruct, SerializeTupleVariant, Serializer,
};

/// How many levels of nesting apart the stack is looked at (a power of two).
pub(crate) const CHECK_EVERY: u32 = 8;
/// The stack left below which a look moves decoding or encoding to a new segment: enough for
/// [`CHECK_EVERY`] levels of 32 KiB each, or one level of a value up to about 100 KiB.
pub(crate) const RED_ZONE: usize = 256 << 10;
/// The size of a decoded value (with its `Result`), or of a value encoded, above which its level
/// looks at the stack whatever its depth: eight levels of such values could outgrow the red zone.
pub(crate) const BIG: usize = 2 << 10;
/// The size of each new stack segment.
pub(crate) const STACK_SIZE: usize = 2 << 20;

/// Runs `f`, on a new stack segment if this is a level where the stack is looked at and too
/// little of it is left. The first look is at level [`CHECK_EVERY`], unless the value is larger
/// than [`BIG`] (a constant test for each type): a shallow value of small types never reads the
/// stack pointer, and never grows a small thread's stack.
#[inline(always)]
fn guarded<R>(depth: u32, f: impl FnOnce() -> R) -> R {
    if depth.is_multiple_of(CHECK_EVERY) || std::mem::size_of::<R>() > BIG {
        look(f)
    } else {
        f()
    }
}

/// The look at the stack, out of line: the levels that do not look stay small enough to inline.
#[cold]
#[inline(never)]
fn look<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(RED_ZONE, STACK_SIZE, f)
}

thread_local! {
    /// The message of the latest custom error made through the adapter: postcard's errors keep
    /// none (`Error::custom(msg)` gives "Serde Serialization Error" whatever `msg` says).
    static KEPT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `f`, an encode or decode through the adapter, with no message kept from before it, and
/// returns what `f` returned with the message of the latest custom error made during it: the one
/// its error reports, when postcard's error is its custom one. The message kept before is put
/// back after, even if `f` panics: an encode or decode can run inside another after the outer
/// one's impl made its error (from the `Drop` of a value decoded so far, which may send on a
/// connection), and the outer one reports its own message, not the inner one's.
pub(crate) fn keeping<R>(f: impl FnOnce() -> R) -> (R, Option<String>) {
    /// The outer encode's or decode's message, put back when this one ends.
    struct Outer(Option<String>);
    impl Drop for Outer {
        fn drop(&mut self) {
            let outer = self.0.take();
            KEPT.with(|k| *k.borrow_mut() = outer);
        }
    }
    let _outer = Outer(KEPT.with(|k| k.borrow_mut().take()));
    let result = f();
    (result, KEPT.with(|k| k.borrow_mut().take()))
}

/// The error of the serializer or deserializer the adapter wraps, as the values' `Serialize`
/// and `Deserialize` impls see it: [`custom`](serde::ser::Error::custom) keeps its message in
/// [`KEPT`] before making the wrapped error, so that the message outlives postcard's error.
/// serde's other errors (`invalid_type`, `missing_field`, …) are made through `custom` and
/// keep theirs too. A newtype of the same size, unwrapped at each level, so success costs
/// nothing.
#[repr(transparent)]
pub(crate) struct Kept<E>(E);

impl<E> Kept<E> {
    /// The wrapped serializer's or deserializer's own error.
    #[inline]
    pub(crate) fn into_inner(self) -> E {
        self.0
    }

    fn keep(message: String, make: impl FnOnce(&str) -> E) -> Self {
        let error = make(&message);
        KEPT.with(|k| *k.borrow_mut() = Some(message));
        Kept(error)
    }
}

impl<E: fmt::Display> fmt::Display for Kept<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<E: fmt::Debug> fmt::Debug for Kept<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<E: std::error::Error> std::error::Error for Kept<E> {}

impl<E: serde::ser::Error> serde::ser::Error for Kept<E> {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Kept::keep(msg.to_string(), |m| E::custom(m))
    }
}

impl<E: Error> Error for Kept<E> {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Kept::keep(msg.to_string(), |m| E::custom(m))
    }
}

/// A deserializer that decodes, or a serializer that encodes, on a stack grown as the value's
/// nesting needs: see the module.
pub(crate) struct Deep<D> {
    inner: D,
    /// The level of nesting of the value this deserializer decodes or serializer encodes: how
    /// many values hold it (0 for the outermost).
    depth: u32,
}

impl<D> Deep<D> {
    /// Wraps `inner`, which decodes or encodes the outermost value.
    pub(crate) fn new(inner: D) -> Self {
        Deep { inner, depth: 0 }
    }
}

/// The `deserialize_*` methods: each counts one level, wraps the visitor and looks at the stack
/// on every [`CHECK_EVERY`]th level.
macro_rules! deserialize_methods {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $method<V: Visitor<'de>>(
            self,
            $($arg: $ty,)*
            visitor: V,
        ) -> Result<V::Value, Kept<D::Error>> {
            let depth = self.depth.wrapping_add(1);
            let inner = self.inner;
            guarded(depth, move || inner.$method($($arg,)* Nested { inner: visitor, depth }))
                .map_err(Kept)
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Deep<D> {
    type Error = Kept<D::Error>;

    deserialize_methods! {
        deserialize_any();
        deserialize_bool();
        deserialize_i8();
        deserialize_i16();
        deserialize_i32();
        deserialize_i64();
        deserialize_i128();
        deserialize_u8();
        deserialize_u16();
        deserialize_u32();
        deserialize_u64();
        deserialize_u128();
        deserialize_f32();
        deserialize_f64();
        deserialize_char();
        deserialize_str();
        deserialize_string();
        deserialize_bytes();
        deserialize_byte_buf();
        deserialize_option();
        deserialize_unit();
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_seq();
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
        deserialize_ignored_any();
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// A visitor, seed or access at some level of nesting: it hands the level on to whatever decodes
/// the values inside, wrapped as a [`Deep`].
pub(crate) struct Nested<T> {
    inner: T,
    depth: u32,
}

impl<T> Nested<T> {
    fn wrap<U>(&self, inner: U) -> Nested<U> {
        Nested {
            inner,
            depth: self.depth,
        }
    }

    /// The compound serializer `inner` made at level `depth`, its values to be wrapped.
    #[inline]
    fn around<E>(depth: u32, inner: Result<T, E>) -> Result<Self, Kept<E>> {
        Ok(Nested {
            inner: inner.map_err(Kept)?,
            depth,
        })
    }

    /// `value`, held by this compound value, to be handed to the inner serializer.
    #[inline]
    fn level<'a, V: ?Sized>(&self, value: &'a V) -> Level<'a, V> {
        Level {
            value,
            depth: self.depth,
        }
    }
}

/// Visitor methods given a plain value, passed on as they are.
macro_rules! visit_values {
    ($($method:ident($ty:ty);)*) => {$(
        fn $method<E: Error>(self, v: $ty) -> Result<Self::Value, E> {
            self.inner.$method::<Kept<E>>(v).map_err(Kept::into_inner)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Nested<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    visit_values! {
        visit_bool(bool);
        visit_i8(i8);
        visit_i16(i16);
        visit_i32(i32);
        visit_i64(i64);
        visit_i128(i128);
        visit_u8(u8);
        visit_u16(u16);
        visit_u32(u32);
        visit_u64(u64);
        visit_u128(u128);
        visit_f32(f32);
        visit_f64(f64);
        visit_char(char);
        visit_str(&str);
        visit_borrowed_str(&'de str);
        visit_string(String);
        visit_bytes(&[u8]);
        visit_borrowed_bytes(&'de [u8]);
        visit_byte_buf(Vec<u8>);
    }

    fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_none::<Kept<E>>().map_err(Kept::into_inner)
    }

    fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_unit::<Kept<E>>().map_err(Kept::into_inner)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let depth = self.depth;
        self.inner
            .visit_some(Deep { inner: d, depth })
            .map_err(Kept::into_inner)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let depth = self.depth;
        self.inner
            .visit_newtype_struct(Deep { inner: d, depth })
            .map_err(Kept::into_inner)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let seq = self.wrap(seq);
        self.inner.visit_seq(seq).map_err(Kept::into_inner)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let map = self.wrap(map);
        self.inner.visit_map(map).map_err(Kept::into_inner)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        let data = self.wrap(data);
        self.inner.visit_enum(data).map_err(Kept::into_inner)
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Nested<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.inner
            .deserialize(Deep {
                inner: d,
                depth: self.depth,
            })
            .map_err(Kept::into_inner)
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Nested<A> {
    type Error = Kept<A::Error>;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Kept<A::Error>> {
        let seed = self.wrap(seed);
        self.inner.next_element_seed(seed).map_err(Kept)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Nested<A> {
    type Error = Kept<A::Error>;

    fn next_key_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Kept<A::Error>> {
        let seed = self.wrap(seed);
        self.inner.next_key_seed(seed).map_err(Kept)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, Kept<A::Error>> {
        let seed = self.wrap(seed);
        self.inner.next_value_seed(seed).map_err(Kept)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for Nested<A> {
    type Error = Kept<A::Error>;
    type Variant = Nested<A::Variant>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant), Kept<A::Error>> {
        let seed = self.wrap(seed);
        let depth = self.depth;
        let (value, variant) = self.inner.variant_seed(seed).map_err(Kept)?;
        Ok((
            value,
            Nested {
                inner: variant,
                depth,
            },
        ))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Nested<A> {
    type Error = Kept<A::Error>;

    fn unit_variant(self) -> Result<(), Kept<A::Error>> {
        self.inner.unit_variant().map_err(Kept)
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<S::Value, Kept<A::Error>> {
        let seed = self.wrap(seed);
        self.inner.newtype_variant_seed(seed).map_err(Kept)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Kept<A::Error>> {
        let visitor = self.wrap(visitor);
        self.inner.tuple_variant(len, visitor).map_err(Kept)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Kept<A::Error>> {
        let visitor = self.wrap(visitor);
        self.inner.struct_variant(fields, visitor).map_err(Kept)
    }
}

/// Encodes `value` with postcard after the bytes already in `out`, as `postcard::to_extend` does,
/// on a stack grown as the value's nesting needs.
pub(crate) fn to_extend<T: Serialize + ?Sized>(
    value: &T,
    out: Vec<u8>,
) -> postcard::Result<Vec<u8>> {
    use postcard::ser_flavors::{ExtendFlavor, Flavor};
    let mut serializer = postcard::Serializer {
        output: ExtendFlavor::new(out),
    };
    value
        .serialize(Deep::new(&mut serializer))
        .map_err(Kept::into_inner)?;
    serializer.output.finalize()
}

/// Runs `f`, which encodes `value`, on a new stack segment if this is a level where the stack is
/// looked at and too little of it is left: every [`CHECK_EVERY`]th level, and every level of a
/// value larger than [`BIG`] (see [`Level`] for why the size matters, though values are encoded
/// by reference).
#[inline(always)]
fn guarded_encode<T: ?Sized, R>(depth: u32, value: &T, f: impl FnOnce() -> R) -> R {
    if depth.is_multiple_of(CHECK_EVERY) || std::mem::size_of_val(value) > BIG {
        look(f)
    } else {
        f()
    }
}

/// The `serialize_*` methods given a plain value, passed on as they are.
macro_rules! serialize_values {
    ($($method:ident($ty:ty);)*) => {$(
        #[inline]
        fn $method(self, v: $ty) -> Result<S::Ok, Kept<S::Error>> {
            self.inner.$method(v).map_err(Kept)
        }
    )*};
}

/// A serializer that encodes on a stack grown as the value's nesting needs: the encoding half of
/// the adapter (see the module and [`Level`]).
impl<S: Serializer> Serializer for Deep<S> {
    type Ok = S::Ok;
    type Error = Kept<S::Error>;
    type SerializeSeq = Nested<S::SerializeSeq>;
    type SerializeTuple = Nested<S::SerializeTuple>;
    type SerializeTupleStruct = Nested<S::SerializeTupleStruct>;
    type SerializeTupleVariant = Nested<S::SerializeTupleVariant>;
    type SerializeMap = Nested<S::SerializeMap>;
    type SerializeStruct = Nested<S::SerializeStruct>;
    type SerializeStructVariant = Nested<S::SerializeStructVariant>;

    serialize_values! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_i128(i128);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_u128(u128);
        serialize_f32(f32);
        serialize_f64(f64);
        serialize_char(char);
        serialize_str(&str);
        serialize_bytes(&[u8]);
        serialize_unit_struct(&'static str);
    }

    #[inline]
    fn serialize_none(self) -> Result<S::Ok, Kept<S::Error>> {
        self.inner.serialize_none().map_err(Kept)
    }

    #[inline]
    fn serialize_unit(self) -> Result<S::Ok, Kept<S::Error>> {
        self.inner.serialize_unit().map_err(Kept)
    }

    #[inline]
    fn serialize_unit_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
    ) -> Result<S::Ok, Kept<S::Error>> {
        self.inner
            .serialize_unit_variant(name, index, variant)
            .map_err(Kept)
    }

    #[inline]
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, Kept<S::Error>> {
        let depth = self.depth;
        self.inner
            .serialize_some(&Level { value, depth })
            .map_err(Kept)
    }

    #[inline]
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, Kept<S::Error>> {
        let depth = self.depth;
        self.inner
            .serialize_newtype_struct(name, &Level { value, depth })
            .map_err(Kept)
    }

    #[inline]
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, Kept<S::Error>> {
        let depth = self.depth;
        self.inner
            .serialize_newtype_variant(name, index, variant, &Level { value, depth })
            .map_err(Kept)
    }

    #[inline]
    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, Kept<S::Error>> {
        Nested::around(self.depth, self.inner.serialize_seq(len))
    }

    #[inline]
    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, Kept<S::Error>> {
        Nested::around(self.depth, self.inner.serialize_tuple(len))
    }

    #[inline]
    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, Kept<S::Error>> {
        Nested::around(self.depth, self.inner.serialize_tuple_struct(name, len))
    }

    #[inline]
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, Kept<S::Error>> {
        Nested::around(
            self.depth,
            self.inner
                .serialize_tuple_variant(name, index, variant, len),
        )
    }

    #[inline]
    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, Kept<S::Error>> {
        Nested::around(self.depth, self.inner.serialize_map(len))
    }

    #[inline]
    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, Kept<S::Error>> {
        Nested::around(self.depth, self.inner.serialize_struct(name, len))
    }

    #[inline]
    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, Kept<S::Error>> {
        Nested::around(
            self.depth,
            self.inner
                .serialize_struct_variant(name, index, variant, len),
        )
    }

    // `collect_seq` and `collect_map` keep serde's default, which goes through `serialize_seq`
    // and `serialize_map` above; a `Display` holds no nested value, so postcard's own
    // `collect_str` (which does not build a `String`) is used as it is.
    #[inline]
    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<S::Ok, Kept<S::Error>> {
        self.inner.collect_str(value).map_err(Kept)
    }

    #[inline]
    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// A value inside another (an element, field, map key or value, the content of `Some`, a newtype
/// or a variant) at level `depth + 1`, handed to the inner serializer in place of the value: its
/// `serialize` counts the level, looks at the stack when the level is one to look at, and encodes
/// the value through a [`Deep`] serializer carrying the level.
///
/// The stack a level takes does not grow with the size of the value as it does when decoding:
/// values are encoded by reference. Measured with `benches/decode.rs`'s `frames` mode (the stack
/// one link of a 1000-deep value takes, a link being one or two levels), encoding through this
/// adapter takes 10–210 bytes a link in a release build and 650–1450 in a debug one (postcard
/// alone: 0–80 and 320–750; a release build encodes some shapes with tail calls). So the same
/// rule as decoding, a look every [`CHECK_EVERY`] levels with a [`RED_ZONE`] of 256 KiB, leaves
/// a margin of over twenty times, and looking less often would save little (about 45
/// instructions a look, every eighth level). A value larger than [`BIG`] still looks at every
/// level, a test the compiler settles for each sized type: a `Serialize` impl may copy its value
/// onto the stack (serde's `#[serde(into = "..")]` clones it into the other type first), and
/// then its frames grow with the value's size, as a decoder's do.
///
/// The forwarding methods of the encoding half are `#[inline]`: without it a 1000-deep list took
/// 114 k instructions to encode instead of 70 k (postcard alone: 55 k), 1M small enums 104 a
/// value instead of 85 (83).
struct Level<'a, T: ?Sized> {
    value: &'a T,
    /// The level of the value that holds this one.
    depth: u32,
}

impl<T: Serialize + ?Sized> Serialize for Level<'_, T> {
    #[inline]
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let depth = self.depth.wrapping_add(1);
        let value = self.value;
        guarded_encode(depth, value, move || {
            value
                .serialize(Deep {
                    inner: serializer,
                    depth,
                })
                .map_err(Kept::into_inner)
        })
    }
}

/// The compound serializers whose one method takes a value: each value is wrapped.
macro_rules! nested_values {
    ($($trait:ident::$method:ident;)*) => {$(
        impl<C: $trait> $trait for Nested<C> {
            type Ok = C::Ok;
            type Error = Kept<C::Error>;

            #[inline]
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Kept<C::Error>> {
                self.inner.$method(&self.level(value)).map_err(Kept)
            }

            #[inline]
            fn end(self) -> Result<C::Ok, Kept<C::Error>> {
                self.inner.end().map_err(Kept)
            }
        }
    )*};
}

nested_values! {
    SerializeSeq::serialize_element;
    SerializeTuple::serialize_element;
    SerializeTupleStruct::serialize_field;
    SerializeTupleVariant::serialize_field;
}

impl<C: SerializeMap> SerializeMap for Nested<C> {
    type Ok = C::Ok;
    type Error = Kept<C::Error>;

    #[inline]
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Kept<C::Error>> {
        self.inner.serialize_key(&self.level(key)).map_err(Kept)
    }

    #[inline]
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Kept<C::Error>> {
        self.inner.serialize_value(&self.level(value)).map_err(Kept)
    }

    #[inline]
    fn serialize_entry<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<(), Kept<C::Error>> {
        self.inner
            .serialize_entry(&self.level(key), &self.level(value))
            .map_err(Kept)
    }

    #[inline]
    fn end(self) -> Result<C::Ok, Kept<C::Error>> {
        self.inner.end().map_err(Kept)
    }
}

/// The struct serializers: each field's value is wrapped.
macro_rules! nested_fields {
    ($($trait:ident;)*) => {$(
        impl<C: $trait> $trait for Nested<C> {
            type Ok = C::Ok;
            type Error = Kept<C::Error>;

            #[inline]
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), Kept<C::Error>> {
                self.inner
                    .serialize_field(key, &self.level(value))
                    .map_err(Kept)
            }

            fn skip_field(&mut self, key: &'static str) -> Result<(), Kept<C::Error>> {
                self.inner.skip_field(key).map_err(Kept)
            }

            #[inline]
            fn end(self) -> Result<C::Ok, Kept<C::Error>> {
                self.inner.end().map_err(Kept)
            }
        }
    )*};
}

nested_fields! {
    SerializeStruct;
    SerializeStructVariant;
}
