//! Canonical ABI runtime for the glue that `wasmlet bindgen` generates.
//!
//! Every WIT type maps to a Rust type implementing [`Lower`] (write it into
//! guest memory or into flat core values) and [`Lift`] (read it back, taking
//! ownership of the buffers the host allocated through `cabi_realloc`). Flat
//! values travel as `u64` bit patterns: i32 and f32 zero-extended, so the
//! joins of variant flattening are identities.

use std::alloc::{self, Layout};
use std::any::Any;

/// Rounds `n` up to a multiple of `align` (a power of two).
pub const fn align_to(n: usize, align: usize) -> usize {
    (n + align - 1) & !(align - 1)
}

/// The larger of two sizes.
pub const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// The offset of field `i` in a record whose fields have these sizes and alignments.
pub const fn field_offset(sizes: &[usize], aligns: &[usize], i: usize) -> usize {
    let mut off = 0;
    let mut k = 0;
    while k < i {
        off = align_to(off, aligns[k]) + sizes[k];
        k += 1;
    }
    align_to(off, aligns[i])
}

/// The alignment of a record with these field alignments.
pub const fn record_align(aligns: &[usize]) -> usize {
    let mut a = 1;
    let mut k = 0;
    while k < aligns.len() {
        a = max(a, aligns[k]);
        k += 1;
    }
    a
}

/// The size of a record with these field sizes and alignments.
pub const fn record_size(sizes: &[usize], aligns: &[usize]) -> usize {
    let mut off = 0;
    let mut k = 0;
    while k < sizes.len() {
        off = align_to(off, aligns[k]) + sizes[k];
        k += 1;
    }
    align_to(off, record_align(aligns))
}

/// Allocations made while lowering; freed when dropped.
pub struct Cleanup {
    allocs: Vec<(*mut u8, Layout)>,
}

impl Cleanup {
    /// An empty cleanup list.
    pub fn new() -> Self {
        Cleanup { allocs: Vec::new() }
    }

    /// Allocates `size` bytes aligned to `align`, freed with this list.
    pub fn alloc(&mut self, size: usize, align: usize) -> *mut u8 {
        if size == 0 {
            return align as *mut u8;
        }
        let layout = Layout::from_size_align(size, align).expect("valid layout");
        let ptr = unsafe { alloc::alloc(layout) };
        if ptr.is_null() {
            alloc::handle_alloc_error(layout);
        }
        self.allocs.push((ptr, layout));
        ptr
    }
}

impl Default for Cleanup {
    fn default() -> Self {
        Cleanup::new()
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for (ptr, layout) in self.allocs.drain(..) {
            unsafe { alloc::dealloc(ptr, layout) }
        }
    }
}

/// Frees a buffer the host allocated through `cabi_realloc`.
pub unsafe fn dealloc(ptr: *mut u8, size: usize, align: usize) {
    if size != 0 {
        alloc::dealloc(ptr, Layout::from_size_align_unchecked(size, align));
    }
}

/// A cursor over flat core values.
pub struct Flat<'a> {
    vals: &'a [u64],
    pos: usize,
}

impl<'a> Flat<'a> {
    /// A cursor at the first value.
    pub fn new(vals: &'a [u64]) -> Self {
        Flat { vals, pos: 0 }
    }

    /// The next value.
    pub fn next(&mut self) -> u64 {
        let v = self.vals[self.pos];
        self.pos += 1;
        v
    }

    /// Skips `n` values (the padding of a shorter variant case).
    pub fn skip(&mut self, n: usize) {
        self.pos += n;
    }
}

/// Pushes `n` zero values (padding of a shorter variant case).
pub fn pad(out: &mut Vec<u64>, n: usize) {
    for _ in 0..n {
        out.push(0);
    }
}

/// A value that can be written in canonical-ABI form.
///
/// # Safety
/// `SIZE`, `ALIGN` and `FLAT` must be the canonical ABI's for the WIT type.
pub unsafe trait Lower {
    /// Byte size in linear memory.
    const SIZE: usize;
    /// Alignment in linear memory.
    const ALIGN: usize;
    /// Number of flat core values.
    const FLAT: usize;
    /// True only for `u8`: lists of it are passed without copying.
    const IS_BYTE: bool = false;
    /// Writes the value at `ptr`; buffers it needs are allocated in `cx`.
    unsafe fn store(&self, ptr: *mut u8, cx: &mut Cleanup);
    /// Appends the value's flat core values.
    fn lower_flat(&self, out: &mut Vec<u64>, cx: &mut Cleanup);
}

/// A value that can be read back from canonical-ABI form.
///
/// # Safety
/// Must read exactly what [`Lower`] writes for the same WIT type.
pub unsafe trait Lift: Lower + Sized {
    /// Reads the value at `ptr`, taking ownership of the buffers it points to.
    unsafe fn load(ptr: *const u8) -> Self;
    /// Reads the value from flat core values.
    unsafe fn lift_flat(it: &mut Flat) -> Self;
}

macro_rules! int_impl {
    ($t:ty, $size:expr, $is_byte:expr, $to:expr, $from:expr) => {
        unsafe impl Lower for $t {
            const SIZE: usize = $size;
            const ALIGN: usize = $size;
            const FLAT: usize = 1;
            const IS_BYTE: bool = $is_byte;
            unsafe fn store(&self, ptr: *mut u8, _cx: &mut Cleanup) {
                (ptr as *mut $t).write_unaligned(*self)
            }
            fn lower_flat(&self, out: &mut Vec<u64>, _cx: &mut Cleanup) {
                let to: fn($t) -> u64 = $to;
                out.push(to(*self))
            }
        }
        unsafe impl Lift for $t {
            unsafe fn load(ptr: *const u8) -> Self {
                (ptr as *const $t).read_unaligned()
            }
            unsafe fn lift_flat(it: &mut Flat) -> Self {
                let from: fn(u64) -> $t = $from;
                from(it.next())
            }
        }
    };
}

int_impl!(u8, 1, true, |v| v as u64, |v| v as u8);
int_impl!(i8, 1, false, |v| v as i32 as u32 as u64, |v| v as u32 as i32 as i8);
int_impl!(u16, 2, false, |v| v as u64, |v| v as u16);
int_impl!(i16, 2, false, |v| v as i32 as u32 as u64, |v| v as u32 as i32 as i16);
int_impl!(u32, 4, false, |v| v as u64, |v| v as u32);
int_impl!(i32, 4, false, |v| v as u32 as u64, |v| v as u32 as i32);
int_impl!(u64, 8, false, |v| v, |v| v);
int_impl!(i64, 8, false, |v| v as u64, |v| v as i64);
int_impl!(f32, 4, false, |v| v.to_bits() as u64, |v| f32::from_bits(v as u32));
int_impl!(f64, 8, false, |v| v.to_bits(), f64::from_bits);

unsafe impl Lower for bool {
    const SIZE: usize = 1;
    const ALIGN: usize = 1;
    const FLAT: usize = 1;
    unsafe fn store(&self, ptr: *mut u8, _cx: &mut Cleanup) {
        *ptr = *self as u8
    }
    fn lower_flat(&self, out: &mut Vec<u64>, _cx: &mut Cleanup) {
        out.push(*self as u64)
    }
}

unsafe impl Lift for bool {
    unsafe fn load(ptr: *const u8) -> Self {
        *ptr != 0
    }
    unsafe fn lift_flat(it: &mut Flat) -> Self {
        it.next() as u32 != 0
    }
}

unsafe impl Lower for char {
    const SIZE: usize = 4;
    const ALIGN: usize = 4;
    const FLAT: usize = 1;
    unsafe fn store(&self, ptr: *mut u8, _cx: &mut Cleanup) {
        (ptr as *mut u32).write_unaligned(*self as u32)
    }
    fn lower_flat(&self, out: &mut Vec<u64>, _cx: &mut Cleanup) {
        out.push(*self as u32 as u64)
    }
}

unsafe impl Lift for char {
    unsafe fn load(ptr: *const u8) -> Self {
        char::from_u32((ptr as *const u32).read_unaligned()).expect("valid char")
    }
    unsafe fn lift_flat(it: &mut Flat) -> Self {
        char::from_u32(it.next() as u32).expect("valid char")
    }
}

unsafe impl Lower for () {
    const SIZE: usize = 0;
    const ALIGN: usize = 1;
    const FLAT: usize = 0;
    unsafe fn store(&self, _ptr: *mut u8, _cx: &mut Cleanup) {}
    fn lower_flat(&self, _out: &mut Vec<u64>, _cx: &mut Cleanup) {}
}

unsafe impl Lift for () {
    unsafe fn load(_ptr: *const u8) -> Self {}
    unsafe fn lift_flat(_it: &mut Flat) -> Self {}
}

unsafe fn store_pair(ptr: *mut u8, a: usize, b: usize) {
    (ptr as *mut u32).write_unaligned(a as u32);
    (ptr.add(4) as *mut u32).write_unaligned(b as u32);
}

unsafe fn load_pair(ptr: *const u8) -> (usize, usize) {
    (
        (ptr as *const u32).read_unaligned() as usize,
        (ptr.add(4) as *const u32).read_unaligned() as usize,
    )
}

unsafe fn take_bytes(ptr: usize, len: usize) -> Vec<u8> {
    if len == 0 {
        Vec::new()
    } else {
        Vec::from_raw_parts(ptr as *mut u8, len, len)
    }
}

unsafe impl Lower for str {
    const SIZE: usize = 8;
    const ALIGN: usize = 4;
    const FLAT: usize = 2;
    unsafe fn store(&self, ptr: *mut u8, _cx: &mut Cleanup) {
        store_pair(ptr, self.as_ptr() as usize, self.len())
    }
    fn lower_flat(&self, out: &mut Vec<u64>, _cx: &mut Cleanup) {
        out.push(self.as_ptr() as usize as u64);
        out.push(self.len() as u64);
    }
}

unsafe impl Lower for String {
    const SIZE: usize = 8;
    const ALIGN: usize = 4;
    const FLAT: usize = 2;
    unsafe fn store(&self, ptr: *mut u8, cx: &mut Cleanup) {
        self.as_str().store(ptr, cx)
    }
    fn lower_flat(&self, out: &mut Vec<u64>, cx: &mut Cleanup) {
        self.as_str().lower_flat(out, cx)
    }
}

unsafe impl Lift for String {
    unsafe fn load(ptr: *const u8) -> Self {
        let (p, len) = load_pair(ptr);
        String::from_utf8_unchecked(take_bytes(p, len))
    }
    unsafe fn lift_flat(it: &mut Flat) -> Self {
        let p = it.next() as usize;
        let len = it.next() as usize;
        String::from_utf8_unchecked(take_bytes(p, len))
    }
}

impl<T: Lower> SliceExt for [T] {
    fn canonical_ptr(&self, cx: &mut Cleanup) -> usize {
        if T::IS_BYTE || self.is_empty() {
            return self.as_ptr() as usize;
        }
        let buf = cx.alloc(self.len() * T::SIZE, T::ALIGN);
        for (i, item) in self.iter().enumerate() {
            unsafe { item.store(buf.add(i * T::SIZE), cx) }
        }
        buf as usize
    }
}

/// Writes a slice's elements in canonical form (bytes are passed in place).
pub trait SliceExt {
    /// The address of the canonical element array.
    fn canonical_ptr(&self, cx: &mut Cleanup) -> usize;
}

unsafe impl<T: Lower> Lower for [T] {
    const SIZE: usize = 8;
    const ALIGN: usize = 4;
    const FLAT: usize = 2;
    unsafe fn store(&self, ptr: *mut u8, cx: &mut Cleanup) {
        let p = self.canonical_ptr(cx);
        store_pair(ptr, p, self.len())
    }
    fn lower_flat(&self, out: &mut Vec<u64>, cx: &mut Cleanup) {
        let p = self.canonical_ptr(cx);
        out.push(p as u64);
        out.push(self.len() as u64);
    }
}

unsafe impl<T: Lower> Lower for Vec<T> {
    const SIZE: usize = 8;
    const ALIGN: usize = 4;
    const FLAT: usize = 2;
    unsafe fn store(&self, ptr: *mut u8, cx: &mut Cleanup) {
        self.as_slice().store(ptr, cx)
    }
    fn lower_flat(&self, out: &mut Vec<u64>, cx: &mut Cleanup) {
        self.as_slice().lower_flat(out, cx)
    }
}

unsafe fn take_list<T: Lift>(ptr: usize, len: usize) -> Vec<T> {
    if T::IS_BYTE {
        // u8 has the same layout in Rust and in the canonical ABI.
        return if len == 0 { Vec::new() } else { Vec::from_raw_parts(ptr as *mut T, len, len) };
    }
    let mut v = Vec::with_capacity(len);
    for i in 0..len {
        v.push(T::load((ptr + i * T::SIZE) as *const u8));
    }
    if len != 0 {
        dealloc(ptr as *mut u8, len * T::SIZE, T::ALIGN);
    }
    v
}

unsafe impl<T: Lift> Lift for Vec<T> {
    unsafe fn load(ptr: *const u8) -> Self {
        let (p, len) = load_pair(ptr);
        take_list(p, len)
    }
    unsafe fn lift_flat(it: &mut Flat) -> Self {
        let p = it.next() as usize;
        let len = it.next() as usize;
        take_list(p, len)
    }
}

unsafe impl<T: Lower> Lower for Option<T> {
    const SIZE: usize = align_to(align_to(1, T::ALIGN) + T::SIZE, max(1, T::ALIGN));
    const ALIGN: usize = max(1, T::ALIGN);
    const FLAT: usize = 1 + T::FLAT;
    unsafe fn store(&self, ptr: *mut u8, cx: &mut Cleanup) {
        match self {
            None => *ptr = 0,
            Some(v) => {
                *ptr = 1;
                v.store(ptr.add(align_to(1, T::ALIGN)), cx)
            }
        }
    }
    fn lower_flat(&self, out: &mut Vec<u64>, cx: &mut Cleanup) {
        match self {
            None => {
                out.push(0);
                pad(out, T::FLAT);
            }
            Some(v) => {
                out.push(1);
                v.lower_flat(out, cx);
            }
        }
    }
}

unsafe impl<T: Lift> Lift for Option<T> {
    unsafe fn load(ptr: *const u8) -> Self {
        match *ptr {
            0 => None,
            _ => Some(T::load(ptr.add(align_to(1, T::ALIGN)))),
        }
    }
    unsafe fn lift_flat(it: &mut Flat) -> Self {
        match it.next() as u32 {
            0 => {
                it.skip(T::FLAT);
                None
            }
            _ => Some(T::lift_flat(it)),
        }
    }
}

unsafe impl<T: Lower, E: Lower> Lower for Result<T, E> {
    const SIZE: usize = align_to(
        align_to(1, max(T::ALIGN, E::ALIGN)) + max(T::SIZE, E::SIZE),
        max(1, max(T::ALIGN, E::ALIGN)),
    );
    const ALIGN: usize = max(1, max(T::ALIGN, E::ALIGN));
    const FLAT: usize = 1 + max(T::FLAT, E::FLAT);
    unsafe fn store(&self, ptr: *mut u8, cx: &mut Cleanup) {
        let off = align_to(1, max(T::ALIGN, E::ALIGN));
        match self {
            Ok(v) => {
                *ptr = 0;
                v.store(ptr.add(off), cx)
            }
            Err(e) => {
                *ptr = 1;
                e.store(ptr.add(off), cx)
            }
        }
    }
    fn lower_flat(&self, out: &mut Vec<u64>, cx: &mut Cleanup) {
        match self {
            Ok(v) => {
                out.push(0);
                v.lower_flat(out, cx);
                pad(out, Self::FLAT - 1 - T::FLAT);
            }
            Err(e) => {
                out.push(1);
                e.lower_flat(out, cx);
                pad(out, Self::FLAT - 1 - E::FLAT);
            }
        }
    }
}

unsafe impl<T: Lift, E: Lift> Lift for Result<T, E> {
    unsafe fn load(ptr: *const u8) -> Self {
        let off = align_to(1, max(T::ALIGN, E::ALIGN));
        match *ptr {
            0 => Ok(T::load(ptr.add(off))),
            _ => Err(E::load(ptr.add(off))),
        }
    }
    unsafe fn lift_flat(it: &mut Flat) -> Self {
        match it.next() as u32 {
            0 => {
                let v = T::lift_flat(it);
                it.skip(Self::FLAT - 1 - T::FLAT);
                Ok(v)
            }
            _ => {
                let e = E::lift_flat(it);
                it.skip(Self::FLAT - 1 - E::FLAT);
                Err(e)
            }
        }
    }
}

macro_rules! tuple_impl {
    ($($t:ident $i:tt),+) => {
        unsafe impl<$($t: Lower),+> Lower for ($($t,)+) {
            const SIZE: usize = record_size(&[$($t::SIZE),+], &[$($t::ALIGN),+]);
            const ALIGN: usize = record_align(&[$($t::ALIGN),+]);
            const FLAT: usize = 0 $(+ $t::FLAT)+;
            unsafe fn store(&self, ptr: *mut u8, cx: &mut Cleanup) {
                let sizes = [$($t::SIZE),+];
                let aligns = [$($t::ALIGN),+];
                $(self.$i.store(ptr.add(field_offset(&sizes, &aligns, $i)), cx);)+
            }
            fn lower_flat(&self, out: &mut Vec<u64>, cx: &mut Cleanup) {
                $(self.$i.lower_flat(out, cx);)+
            }
        }
        unsafe impl<$($t: Lift),+> Lift for ($($t,)+) {
            unsafe fn load(ptr: *const u8) -> Self {
                let sizes = [$($t::SIZE),+];
                let aligns = [$($t::ALIGN),+];
                ($($t::load(ptr.add(field_offset(&sizes, &aligns, $i))),)+)
            }
            unsafe fn lift_flat(it: &mut Flat) -> Self {
                ($($t::lift_flat(it),)+)
            }
        }
    };
}

tuple_impl!(A 0);
tuple_impl!(A 0, B 1);
tuple_impl!(A 0, B 1, C 2);
tuple_impl!(A 0, B 1, C 2, D 3);
tuple_impl!(A 0, B 1, C 2, D 3, E 4);
tuple_impl!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_impl!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_impl!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

/// Export results (and the buffers they point to) kept alive until the
/// host calls the export's post-return function.
static mut RETAINED: Vec<(Box<dyn Any>, Cleanup)> = Vec::new();

/// Keeps a lowered export result alive until [`release`].
pub unsafe fn retain(value: Box<dyn Any>, cx: Cleanup) {
    RETAINED.push((value, cx));
}

/// Frees what [`retain`] kept (called from post-return functions).
pub unsafe fn release() {
    RETAINED.clear();
}

/// The allocator the host uses to place arguments in guest memory.
#[no_mangle]
pub unsafe extern "C" fn cabi_realloc(old: *mut u8, old_size: usize, align: usize, new_size: usize) -> *mut u8 {
    if new_size == 0 {
        if old_size != 0 {
            dealloc(old, old_size, align);
        }
        return align as *mut u8;
    }
    let layout = Layout::from_size_align_unchecked(new_size, align);
    let ptr = if old_size == 0 {
        alloc::alloc(layout)
    } else {
        alloc::realloc(old, Layout::from_size_align_unchecked(old_size, align), new_size)
    };
    if ptr.is_null() {
        alloc::handle_alloc_error(layout);
    }
    ptr
}
