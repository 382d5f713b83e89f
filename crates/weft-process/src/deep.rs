//! Decoding a value nested to any depth: a serde `Deserializer` adapter that grows the stack on
//! demand, looking at it only every few levels of nesting.
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
//! `serde_stacker` does the same at every value, scalars included: 1M `(u32, u32)` pairs took
//! 2.5× plain postcard's time in `benches/decode.rs` (1.6× its instructions). Here a scalar
//! costs an add and a test, and only every eighth level of nesting reads the stack pointer
//! (the bench compares the three; BENCHMARKS.md has the figures).
//! The levels between two looks must fit in the red zone: a level's frames grow with the size
//! of the value decoded there (the adapter moves it once more, doubling that part in a release
//! build: 33 KiB a level for a 16 KiB enum, where postcard alone takes 16 KiB), so a value
//! larger than [`BIG`] looks at every level, as serde_stacker does. (The review of 2026-11-27
//! overflowed 2 MiB threads with 16 KiB values looked at every eighth level.)
//!
//! This file has no dependency on the rest of the crate; the decode bench includes it by path.

use std::fmt;

use serde::de::{
    DeserializeSeed, Deserializer, EnumAccess, Error, MapAccess, SeqAccess, VariantAccess, Visitor,
};

/// How many levels of nesting apart the stack is looked at (a power of two).
pub(crate) const CHECK_EVERY: u32 = 8;
/// The stack left below which a look moves decoding to a new segment: enough for
/// [`CHECK_EVERY`] levels of 32 KiB each, or one level of a value up to about 100 KiB.
pub(crate) const RED_ZONE: usize = 256 << 10;
/// The size of a decoded value (with its `Result`) above which its level looks at the stack
/// whatever its depth: eight levels of such values could outgrow the red zone.
pub(crate) const BIG: usize = 2 << 10;
/// The size of each new stack segment.
pub(crate) const STACK_SIZE: usize = 2 << 20;

/// Runs `f`, on a new stack segment if this is a level where the stack is looked at and too
/// little of it is left. The first look is at level [`CHECK_EVERY`], unless the value is larger
/// than [`BIG`] (a constant test for each type): a shallow value of small types never reads the
/// stack pointer, and never grows a small thread's stack.
#[inline(always)]
fn guarded<R>(depth: u32, f: impl FnOnce() -> R) -> R {
    if depth % CHECK_EVERY == 0 || std::mem::size_of::<R>() > BIG {
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

/// A deserializer that decodes on a stack grown as the value's nesting needs: see the module.
pub(crate) struct Deep<D> {
    inner: D,
    /// The level of nesting of the value this deserializer decodes (0 for the outermost).
    depth: u32,
}

impl<D> Deep<D> {
    /// Wraps `inner`, which decodes the outermost value.
    pub(crate) fn new(inner: D) -> Self {
        Deep { inner, depth: 0 }
    }
}

/// The `deserialize_*` methods: each counts one level, wraps the visitor and looks at the stack
/// on every [`CHECK_EVERY`]th level.
macro_rules! deserialize_methods {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
            let depth = self.depth.wrapping_add(1);
            let inner = self.inner;
            guarded(depth, move || inner.$method($($arg,)* Nested { inner: visitor, depth }))
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Deep<D> {
    type Error = D::Error;

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
struct Nested<T> {
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
}

/// Visitor methods given a plain value, passed on as they are.
macro_rules! visit_values {
    ($($method:ident($ty:ty);)*) => {$(
        fn $method<E: Error>(self, v: $ty) -> Result<Self::Value, E> {
            self.inner.$method(v)
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
        self.inner.visit_none()
    }

    fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let depth = self.depth;
        self.inner.visit_some(Deep { inner: d, depth })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let depth = self.depth;
        self.inner.visit_newtype_struct(Deep { inner: d, depth })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let seq = self.wrap(seq);
        self.inner.visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let map = self.wrap(map);
        self.inner.visit_map(map)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        let data = self.wrap(data);
        self.inner.visit_enum(data)
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Nested<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.inner.deserialize(Deep {
            inner: d,
            depth: self.depth,
        })
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Nested<A> {
    type Error = A::Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, A::Error> {
        let seed = self.wrap(seed);
        self.inner.next_element_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Nested<A> {
    type Error = A::Error;

    fn next_key_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, A::Error> {
        let seed = self.wrap(seed);
        self.inner.next_key_seed(seed)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        let seed = self.wrap(seed);
        self.inner.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for Nested<A> {
    type Error = A::Error;
    type Variant = Nested<A::Variant>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant), A::Error> {
        let seed = self.wrap(seed);
        let depth = self.depth;
        let (value, variant) = self.inner.variant_seed(seed)?;
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
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.inner.unit_variant()
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, A::Error> {
        let seed = self.wrap(seed);
        self.inner.newtype_variant_seed(seed)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        let visitor = self.wrap(visitor);
        self.inner.tuple_variant(len, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        let visitor = self.wrap(visitor);
        self.inner.struct_variant(fields, visitor)
    }
}
