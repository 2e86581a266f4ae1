//! Bridge custom memory pool implementations to the CRT S3 Client interface.

use std::future::Future;
use std::marker::PhantomPinned;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::{fmt::Debug, ptr::NonNull};

use mountpoint_s3_crt_sys::{
    aws_allocator, aws_byte_buf, aws_byte_buf_from_empty_array, aws_byte_cursor, aws_future_s3_buffer_ticket,
    aws_future_s3_buffer_ticket_acquire, aws_future_s3_buffer_ticket_get_error, aws_future_s3_buffer_ticket_is_done,
    aws_future_s3_buffer_ticket_new, aws_future_s3_buffer_ticket_release, aws_future_s3_buffer_ticket_set_error,
    aws_future_s3_buffer_ticket_set_result_by_move, aws_ref_count_init, aws_s3_buffer_pool, aws_s3_buffer_pool_config,
    aws_s3_buffer_pool_factory_fn, aws_s3_buffer_pool_reserve_meta, aws_s3_buffer_pool_vtable, aws_s3_buffer_ticket,
    aws_s3_buffer_ticket_vtable, aws_s3_errors,
};

use crate::ToAwsByteCursor as _;
use crate::common::allocator::Allocator;
use crate::io::event_loop::EventLoopGroup;
use crate::io::futures::FutureSpawner;
use crate::s3::client::MetaRequest;

/// A buffer reservation was cancelled and its buffer is no longer wanted.
///
/// Returned by [MemoryPool::get_buffer_async] when the pool abandons a reservation rather than
/// allocating a buffer that would be freed immediately. See [CancellationToken].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("buffer reservation was cancelled")]
pub struct Cancellation;

/// Reports whether a buffer reservation is still wanted.
///
/// A reservation is cancelled once the CRT errors out its buffer-ticket future, which it does
/// when cancelling the meta request the reservation belongs to (see
/// `aws_s3_meta_request_cancel_pending_buffer_futures`). A [MemoryPool] that defers a
/// reservation under memory pressure can poll this token to abandon a reservation that was
/// cancelled while queued, avoiding a wasteful allocation that would be freed immediately.
#[derive(Debug, Clone)]
pub struct CancellationToken(TokenSource);

#[derive(Debug, Clone)]
enum TokenSource {
    /// Backed by the reservation's ticket future: cancelled once the CRT errors it out.
    Ticket(CrtTicketFuture),
    /// Backed by a plain flag: cancelled once the flag is set. Only ever built by the
    /// test-only constructors below, never by the CRT bridge.
    Flag(Arc<AtomicBool>),
}

impl CancellationToken {
    /// A token that never reports cancellation. For tests only.
    pub fn never_cancelled() -> Self {
        Self(TokenSource::Flag(Arc::new(AtomicBool::new(false))))
    }

    /// A token that reports cancellation once `flag` is set to `true`. For tests only.
    pub fn from_flag(flag: Arc<AtomicBool>) -> Self {
        Self(TokenSource::Flag(flag))
    }

    /// A token backed by a reservation's CRT ticket future.
    fn for_ticket(future: CrtTicketFuture) -> Self {
        Self(TokenSource::Ticket(future))
    }

    /// Returns `true` once this reservation has been cancelled, meaning its buffer is no
    /// longer wanted.
    pub fn is_cancelled(&self) -> bool {
        match &self.0 {
            TokenSource::Ticket(future) => future.is_errored(),
            TokenSource::Flag(flag) => flag.load(Ordering::SeqCst),
        }
    }
}

/// A custom memory pool.
///
/// **WARNING:** The API for this trait is still experimental and will likely change
/// in future releases.
pub trait MemoryPool: Clone + Send + Sync + 'static {
    /// Associated buffer type.
    type Buffer: AsMut<[u8]> + Send;

    /// Get a buffer of at least `size` bytes asynchronously for the given meta request.
    /// Returns a future that resolves to the buffer, or to [Cancellation] if the reservation
    /// was abandoned because the CRT cancelled it while it was queued.
    ///
    /// Implementations must always eventually resolve. If memory is not immediately
    /// available, the implementation should block/await until it is — not panic or
    /// deadlock. While waiting, the implementation may poll `token` and resolve to
    /// `Err(Cancellation)` once it reports the reservation is no longer wanted.
    fn get_buffer_async(
        &self,
        size: usize,
        meta_request: &MetaRequest,
        token: CancellationToken,
    ) -> impl Future<Output = Result<Self::Buffer, Cancellation>> + Send;

    /// Trim the pool.
    ///
    /// Return `true` if the pool freed any memory.
    fn trim(&self) -> bool;
}

/// Factory for a custom memory pool.
pub trait MemoryPoolFactory: Send + Sync {
    /// The [MemoryPool] implementation created by this factory.
    type Pool: MemoryPool;

    /// Create a memory pool instance.
    fn create(&self, options: MemoryPoolFactoryOptions) -> Self::Pool;
}

impl<F, P> MemoryPoolFactory for F
where
    F: Fn(MemoryPoolFactoryOptions) -> P + Send + Sync,
    P: MemoryPool,
{
    type Pool = P;

    fn create(&self, options: MemoryPoolFactoryOptions) -> Self::Pool {
        self(options)
    }
}

/// Options to create a [MemoryPool].
#[derive(Debug)]
pub struct MemoryPoolFactoryOptions {
    part_size: usize,
    max_part_size: usize,
    memory_limit: usize,
}

impl MemoryPoolFactoryOptions {
    /// The default part size set on the client.
    pub fn part_size(&self) -> usize {
        self.part_size
    }
    /// The max part size for the client.
    pub fn max_part_size(&self) -> usize {
        self.max_part_size
    }
    /// The memory limit set on the client.
    pub fn memory_limit(&self) -> usize {
        self.memory_limit
    }
}

/// Type-erased wrapper around a [MemoryPoolFactory] implementation.
///
/// This wrapper stores the factory in a type-erased form so it can be held
/// in non-generic structs like `S3ClientConfig`. The concrete type information
/// is preserved via function pointers for later use when constructing the
/// CRT bridge ([`CrtBufferPoolFactory`]).
#[derive(Debug, Clone)]
pub struct MemoryPoolFactoryWrapper(Arc<MemoryPoolFactoryWrapperInner>);

#[derive(Debug)]
struct MemoryPoolFactoryWrapperInner {
    /// Pointer to the leaked (pinned) [MemoryPoolFactory] implementation.
    factory_ptr: NonNull<libc::c_void>,
    /// The generic C callback function pointer for `buffer_pool_factory::<PoolFactory>`.
    factory_fn: aws_s3_buffer_pool_factory_fn,
    /// Function pointer to drop the leaked factory.
    drop_fn: fn(*mut libc::c_void),
}

// SAFETY: `MemoryPoolFactoryWrapperInner` is safe to transfer across threads because it wraps a [MemoryPoolFactory] implementation that is [Send].
unsafe impl Send for MemoryPoolFactoryWrapperInner {}
// SAFETY: `MemoryPoolFactoryWrapperInner` is safe to share across threads because it wraps a [MemoryPoolFactory] implementation that is [Sync].
unsafe impl Sync for MemoryPoolFactoryWrapperInner {}

impl Drop for MemoryPoolFactoryWrapperInner {
    fn drop(&mut self) {
        (self.drop_fn)(self.factory_ptr.as_ptr());
    }
}

impl MemoryPoolFactoryWrapper {
    /// Create a new wrapper from a [MemoryPoolFactory] implementation.
    ///
    /// The factory is pinned and leaked into a type-erased pointer, preserving
    /// the concrete type information via function pointers for later use by
    /// [`CrtBufferPoolFactory`].
    pub fn new<PoolFactory: MemoryPoolFactory>(pool_factory: PoolFactory) -> Self {
        let factory = Box::pin(pool_factory);
        // SAFETY: The pointer to the factory will only be used in `buffer_pool_factory` and
        // `drop_pool_factory`, which will treat it as pinned.
        let leaked = Box::leak(unsafe { Pin::into_inner_unchecked(factory) });
        // SAFETY: `leaked` is not null.
        let factory_ptr = unsafe { NonNull::new_unchecked(leaked as *mut PoolFactory as *mut libc::c_void) };
        Self(Arc::new(MemoryPoolFactoryWrapperInner {
            factory_ptr,
            factory_fn: Some(buffer_pool_factory::<PoolFactory>),
            drop_fn: drop_pool_factory::<PoolFactory>,
        }))
    }
}

/// Factory used by [Client](`super::client::Client`) to create CRT wrappers for [MemoryPool] implementations.
#[derive(Debug)]
pub struct CrtBufferPoolFactory(Box<CrtBufferPoolFactoryInner>);

#[derive(Debug)]
struct CrtBufferPoolFactoryInner {
    event_loop_group: EventLoopGroup,
    /// Keeps the wrapper alive so its `Drop` impl frees the factory pointer exactly once.
    wrapper: MemoryPoolFactoryWrapper,
}

impl CrtBufferPoolFactory {
    /// Builds a CRT buffer pool factory from a type-erased wrapper and an [EventLoopGroup].
    ///
    /// The wrapper provides the type-erased factory pointer and C callback.
    pub fn new(wrapper: MemoryPoolFactoryWrapper, event_loop_group: EventLoopGroup) -> Self {
        Self(Box::new(CrtBufferPoolFactoryInner {
            event_loop_group,
            wrapper,
        }))
    }

    /// Returns the factory callback and user_data pointer to pass to the CRT.
    ///
    /// The user_data pointer points to the `CrtBufferPoolFactoryInner` so that the
    /// C callback can access both the pool factory and the [EventLoopGroup].
    ///
    /// # Safety
    /// The caller MUST keep this `CrtBufferPoolFactory` alive for as long as the CRT
    /// may invoke the callback.
    pub(crate) unsafe fn as_inner(&self) -> (aws_s3_buffer_pool_factory_fn, *mut ::libc::c_void) {
        (
            self.0.wrapper.0.factory_fn,
            &*self.0 as *const CrtBufferPoolFactoryInner as *mut ::libc::c_void,
        )
    }
}

unsafe extern "C" fn buffer_pool_factory<PoolFactory: MemoryPoolFactory>(
    allocator: *mut aws_allocator,
    config: aws_s3_buffer_pool_config,
    user_data: *mut libc::c_void,
) -> *mut aws_s3_buffer_pool {
    // SAFETY: `user_data` points to a `CrtBufferPoolFactoryInner` kept alive by the
    // `Box` in `CrtBufferPoolFactory` (held by `ClientConfig`).
    let factory_inner = unsafe { &*(user_data as *const CrtBufferPoolFactoryInner) };

    // SAFETY: `factory_ptr` references a pinned box owned by the `MemoryPoolFactoryWrapper`.
    let pool_factory = unsafe { &*(factory_inner.wrapper.0.factory_ptr.as_ptr() as *mut PoolFactory) };

    let event_loop_group = factory_inner.event_loop_group.clone();

    // SAFETY: `allocator` is a non-null pointer to a `aws_allocator` instance.
    let allocator = unsafe { NonNull::new_unchecked(allocator).into() };

    let options = MemoryPoolFactoryOptions {
        part_size: config.part_size,
        max_part_size: config.max_part_size,
        memory_limit: config.memory_limit,
    };
    let pool = pool_factory.create(options);

    let crt_pool = CrtBufferPool::new(pool.clone(), allocator, event_loop_group);

    // SAFETY: the CRT will only use the pool through its vtable and refcount.
    unsafe { crt_pool.leak() }
}

fn drop_pool_factory<PoolFactory: MemoryPoolFactory>(factory_ptr: *mut libc::c_void) {
    // SAFETY: `factory_ptr` was leaked in `MemoryPoolFactoryWrapper::new`.
    _ = unsafe { Pin::new_unchecked(Box::from_raw(factory_ptr as *mut PoolFactory)) };
}

/// Internal wrapper to bridge the [MemoryPool] implementation to
/// the `aws_s3_buffer_pool` to provide to the CRT.
///
/// Instances of this type also hold the vtables to set up both
/// the `aws_s3_buffer_pool` itself and the `aws_s3_buffer_ticket`s
/// it returns. Notably, all the functions in the vtables are generic
/// in the same [MemoryPool] implementation as [CrtBufferPool], so
/// that the CRT can handle different implementations and there is
/// no need for dynamic dispatch on the Rust side.
struct CrtBufferPool<Pool: MemoryPool> {
    /// Inner struct to pass to CRT functions.
    inner: aws_s3_buffer_pool,
    /// [MemoryPool] implementation.
    pool: Pool,
    /// Holds the vtable to point to in `inner`.
    pool_vtable: aws_s3_buffer_pool_vtable,
    /// Holds the vtable for the `aws_s3_buffer_ticket` instances.
    ticket_vtable: aws_s3_buffer_ticket_vtable,
    /// CRT allocator.
    allocator: Allocator,
    /// [EventLoopGroup] for spawning async get_buffer calls.
    event_loop_group: EventLoopGroup,
    /// Pin this struct because inner.impl_ will be a pointer to this object.
    _pinned: PhantomPinned,
}

impl<Pool: MemoryPool> CrtBufferPool<Pool> {
    fn new(pool: Pool, allocator: Allocator, event_loop_group: EventLoopGroup) -> Pin<Box<Self>> {
        // `inner` will be initialized after pinning because its fields require pinned addresses.
        let mut crt_pool = Box::pin(CrtBufferPool {
            inner: Default::default(),
            pool,
            pool_vtable: aws_s3_buffer_pool_vtable {
                reserve: Some(pool_reserve::<Pool>),
                trim: Some(pool_trim::<Pool>),
                acquire: None,
                release: None,
                ..Default::default()
            },
            ticket_vtable: aws_s3_buffer_ticket_vtable {
                claim: Some(ticket_claim::<Pool::Buffer>),
                acquire: None,
                release: None,
            },
            allocator,
            event_loop_group,
            _pinned: Default::default(),
        });

        // Set up the vtable and `impl_` to the pinned addresses (self-referential) and initialize ref-counting.
        // SAFETY: We're setting up the struct to be self-referential, and we're not moving out
        // of the struct, so the unchecked deref of the pinned pointer is okay.
        unsafe {
            let pool_ref = Pin::get_unchecked_mut(Pin::as_mut(&mut crt_pool));
            pool_ref.inner.vtable = &raw mut pool_ref.pool_vtable;
            pool_ref.inner.impl_ = pool_ref as *mut CrtBufferPool<Pool> as *mut libc::c_void;
            aws_ref_count_init(
                &mut pool_ref.inner.ref_count,
                &mut pool_ref.inner as *mut aws_s3_buffer_pool as *mut libc::c_void,
                Some(pool_destroy::<Pool>),
            );
        }

        crt_pool
    }

    /// Leak a pinned instance and returns a raw pointer.
    ///
    /// # Safety
    /// The returned pointer must eventually be passed to [from_raw] and can
    /// additionally only used in [ref_from_raw].
    unsafe fn leak(self: Pin<Box<Self>>) -> *mut aws_s3_buffer_pool {
        // SAFETY: the resulting pointer will be only used in `pool_reserve`, `pool_trim`, and `pool_destroy`.
        let pool = Box::leak(unsafe { Pin::into_inner_unchecked(self) });
        &raw mut pool.inner
    }

    /// Returns a reference to original instance from a raw pointer.
    ///
    /// # Safety
    /// The raw pointer must have been obtained through [leak()].
    unsafe fn ref_from_raw(pool: &*mut aws_s3_buffer_pool) -> &Self {
        // SAFETY: `pool` points to the `inner` field of a pinned instance.
        unsafe {
            let impl_ptr = (**pool).impl_;
            &*(impl_ptr as *mut Self)
        }
    }

    /// Re-constructs the original pinned instance from a raw pointer.
    ///
    /// # Safety
    /// The raw pointer must have been obtained through [leak()].
    unsafe fn from_raw(pool: *mut aws_s3_buffer_pool) -> Pin<Box<Self>> {
        // SAFETY: `pool` points to the `inner` field of a pinned instance.
        unsafe { Pin::new_unchecked(Box::from_raw((*pool).impl_ as *mut Self)) }
    }

    fn trim(&self) {
        self.pool.trim();
    }

    fn reserve(&self, size: usize, meta_request: MetaRequest, _can_block: bool) -> CrtTicketFuture {
        let future = CrtTicketFuture::new(&self.allocator);
        let ticket_vtable = self.ticket_vtable;
        let pool = self.pool.clone();
        let future_clone = future.clone();
        // Cancellation token for the pool: the reservation is wanted until the CRT errors
        // this ticket future, which it does when cancelling the meta request (see
        // `aws_s3_meta_request_cancel_pending_buffer_futures`).
        let token = CancellationToken::for_ticket(future.clone());
        // Dropping the handle is intentional: the acquisition runs to completion on the
        // event loop and delivers its result out-of-band via `future_clone.set`.
        let _handle = self.event_loop_group.spawn_future(async move {
            match pool.get_buffer_async(size, &meta_request, token).await {
                Ok(buffer) => future_clone.set(CrtTicket::new(buffer, ticket_vtable)),
                Err(Cancellation) => {
                    // The pool only declines a reservation after the CRT has errored this ticket
                    // future — that is exactly what makes the token report cancelled (see
                    // `aws_s3_meta_request_cancel_pending_buffer_futures`) — so it is already errored.
                    debug_assert!(
                        future_clone.is_errored(),
                        "pool declined a reservation whose ticket future was not errored",
                    );
                    // Error it for completeness so the CRT never waits on an unset ticket, even if
                    // some future path were to decline without the CRT erroring it first. A no-op
                    // when already errored: the CRT keeps its original error.
                    future_clone.set_error(aws_s3_errors::AWS_ERROR_S3_CANCELED as i32);
                }
            }
        });

        future
    }
}

unsafe extern "C" fn pool_reserve<Pool: MemoryPool>(
    pool: *mut aws_s3_buffer_pool,
    meta: aws_s3_buffer_pool_reserve_meta,
) -> *mut aws_future_s3_buffer_ticket {
    // SAFETY: `pool` was obtained through `CrtMemoryPool::leak`.
    let crt_pool = unsafe { CrtBufferPool::<Pool>::ref_from_raw(&pool) };

    // SAFETY: `meta.meta_request` is a valid pointer to an `aws_s3_meta_request` whose
    // `user_data` was initialised by `MetaRequestOptions`.
    let meta_request = unsafe { MetaRequest::from_raw_acquire(meta.meta_request) };
    let future = crt_pool.reserve(meta.size, meta_request, meta.can_block);

    // SAFETY: the CRT will take ownership of the future.
    unsafe { future.into_inner_ptr() }
}

unsafe extern "C" fn pool_trim<Pool: MemoryPool>(pool: *mut aws_s3_buffer_pool) {
    // SAFETY: `pool` was obtained through `CrtMemoryPool::leak`.
    let crt_pool = unsafe { CrtBufferPool::<Pool>::ref_from_raw(&pool) };
    crt_pool.trim();
}

unsafe extern "C" fn pool_destroy<Pool: MemoryPool>(data: *mut libc::c_void) {
    let pool = data as *mut aws_s3_buffer_pool;

    // SAFETY: `pool` was obtained through `CrtMemoryPool::leak`.
    _ = unsafe { CrtBufferPool::<Pool>::from_raw(pool) };
}

/// Wrapper for [aws_s3_buffer_ticket].
struct CrtTicket<Buffer: AsMut<[u8]>> {
    /// Inner struct to pass to CRT functions.
    inner: aws_s3_buffer_ticket,
    /// Holds the vtable to point to in `inner`.
    ticket_vtable: aws_s3_buffer_ticket_vtable,
    /// Buffer implementing [AsMut<\[u8\]>].
    buffer: Buffer,
    /// Pin this struct because inner.impl_ will be a pointer to this object.
    _pinned: PhantomPinned,
}

impl<Buffer: AsMut<[u8]>> CrtTicket<Buffer> {
    fn new(buffer: Buffer, ticket_vtable: aws_s3_buffer_ticket_vtable) -> Pin<Box<Self>> {
        // `inner` will be initialized after pinning because its fields require pinned addresses.
        let mut ticket = Box::pin(CrtTicket {
            inner: Default::default(),
            ticket_vtable,
            buffer,
            _pinned: Default::default(),
        });

        // Set up the vtable and `impl_` to the pinned addresses (self-referential) and initialize ref-counting.
        // SAFETY: We're setting up the struct to be self-referential, and we're not moving out
        // of the struct, so the unchecked deref of the pinned pointer is okay.
        unsafe {
            let ticket_ref = Pin::get_unchecked_mut(Pin::as_mut(&mut ticket));
            ticket_ref.inner.vtable = &raw mut ticket_ref.ticket_vtable;
            ticket_ref.inner.impl_ = ticket_ref as *mut CrtTicket<Buffer> as *mut libc::c_void;
            aws_ref_count_init(
                &mut ticket_ref.inner.ref_count,
                &mut ticket_ref.inner as *mut aws_s3_buffer_ticket as *mut libc::c_void,
                Some(ticket_destroy::<Buffer>),
            );
        }

        ticket
    }

    /// Leak a pinned instance and returns a raw pointer.
    ///
    /// # Safety
    /// The returned pointer must eventually be passed to [from_raw] and can
    /// additionally only be used in [ref_mut_from_raw].
    unsafe fn leak(self: Pin<Box<Self>>) -> *mut aws_s3_buffer_ticket {
        // SAFETY: the resulting pointer will be only used in `ticket_claim` and `ticket_destroy`.
        let boxed = unsafe { Pin::into_inner_unchecked(self) };
        let pool = Box::leak(boxed);
        &raw mut pool.inner
    }

    /// Returns a reference to original instance from a raw pointer.
    ///
    /// # Safety
    /// The raw pointer must have been obtained through [leak()].
    unsafe fn ref_mut_from_raw(ticket: &mut *mut aws_s3_buffer_ticket) -> &mut Self {
        // SAFETY: `ticket` points to the `inner` field of a pinned instance.
        unsafe {
            let impl_ptr = (**ticket).impl_;
            &mut *(impl_ptr as *mut Self)
        }
    }

    /// Re-constructs the original pinned instance from a raw pointer.
    ///
    /// # Safety
    /// The raw pointer must have been obtained through [leak()].
    unsafe fn from_raw(ticket: *mut aws_s3_buffer_ticket) -> Pin<Box<Self>> {
        // SAFETY: `ticket` points to the `inner` field of a pinned instance.
        unsafe { Pin::new_unchecked(Box::from_raw((*ticket).impl_ as *mut Self)) }
    }
}

/// Return the buffer associated with a ticket.
unsafe extern "C" fn ticket_claim<Buffer: AsMut<[u8]>>(mut ticket: *mut aws_s3_buffer_ticket) -> aws_byte_buf {
    // SAFETY: `ticket` was obtained through `Ticket::leak`.
    let ticket = unsafe { CrtTicket::<Buffer>::ref_mut_from_raw(&mut ticket) };

    // SAFETY: the CRT guarantees to only use the returned buffer while holding the ticket.
    let aws_byte_cursor { len, ptr } = unsafe { ticket.buffer.as_mut().as_aws_byte_cursor() };

    // Use `aws_byte_buf_from_empty_array` to build an `aws_byte_buf` with 0 length and `len` capacity.
    // SAFETY: `ptr` is a valid buffer with capacity >= `len`.
    unsafe { aws_byte_buf_from_empty_array(ptr as *mut libc::c_void, len) }
}

unsafe extern "C" fn ticket_destroy<Buffer: AsMut<[u8]>>(data: *mut libc::c_void) {
    let ticket = data as *mut aws_s3_buffer_ticket;
    // SAFETY: `ticket` was obtained through `Ticket::leak`.
    _ = unsafe { CrtTicket::<Buffer>::from_raw(ticket) };
}

#[cfg(test)]
mod tests {
    use mountpoint_s3_crt_sys::{aws_future_s3_buffer_ticket_set_error, aws_s3_errors};

    use super::*;
    use crate::common::allocator::Allocator;
    use crate::s3::s3_library_init;

    #[test]
    fn test_ticket_token_reports_cancelled_on_error() {
        let allocator = Allocator::default();
        s3_library_init(&allocator);

        let future = CrtTicketFuture::new(&allocator);
        // Mirror exactly what `reserve()` builds for `get_buffer_async`.
        let token = CancellationToken::for_ticket(future.clone());

        // A fresh reservation is not yet done, so it is not cancelled.
        assert!(!future.is_errored(), "fresh future must not be errored");
        assert!(!token.is_cancelled(), "fresh reservation must not report cancelled");

        // Simulate the CRT cancelling the reservation.
        // SAFETY: `future.inner` is a valid `aws_future_s3_buffer_ticket`.
        unsafe {
            aws_future_s3_buffer_ticket_set_error(future.inner, aws_s3_errors::AWS_ERROR_S3_CANCELED as i32);
        }

        assert!(future.is_errored(), "errored future must report errored");
        assert!(token.is_cancelled(), "cancelled reservation must report cancelled");
    }
}

/// Wrapper for [aws_future_s3_buffer_ticket].
#[derive(Debug)]
struct CrtTicketFuture {
    inner: *mut aws_future_s3_buffer_ticket,
}

// SAFETY: `aws_future_s3_buffer_ticket` is reference counted and its methods are thread-safe.
unsafe impl Send for CrtTicketFuture {}

// SAFETY: `aws_future_s3_buffer_ticket` is reference counted and its methods are thread-safe.
unsafe impl Sync for CrtTicketFuture {}

impl CrtTicketFuture {
    fn new(allocator: &Allocator) -> Self {
        // SAFETY: aws_future_s3_buffer_ticket_new return a non-null pointer to a new aws_future_s3_buffer_ticket with a reference count of 1.
        let inner = unsafe { aws_future_s3_buffer_ticket_new(allocator.inner.as_ptr()) };
        Self { inner }
    }

    fn set<Buffer: AsMut<[u8]>>(&self, ticket: Pin<Box<CrtTicket<Buffer>>>) {
        // SAFETY: `ticket` will be passed to the CRT which will only use it through its vtable and refcount.
        let mut ticket = unsafe { ticket.leak() };
        // SAFETY: `self.inner` is a valid future and we are setting it to `ticket`.
        unsafe {
            aws_future_s3_buffer_ticket_set_result_by_move(self.inner, &mut ticket);
        }
    }

    /// Complete the future with `error_code`, reporting to the CRT that this reservation will
    /// not be fulfilled.
    fn set_error(&self, error_code: i32) {
        // SAFETY: `self.inner` is a valid `aws_future_s3_buffer_ticket` (a reference is held by
        // this struct for its lifetime); the setter is thread-safe (guarded by the future's
        // own internal lock).
        unsafe {
            aws_future_s3_buffer_ticket_set_error(self.inner, error_code);
        }
    }

    /// Returns `true` if the future is done and completed with an error, which is how the
    /// CRT signals that this reservation was cancelled (`AWS_ERROR_S3_CANCELED`).
    fn is_errored(&self) -> bool {
        // SAFETY: `self.inner` is a valid `aws_future_s3_buffer_ticket` (a reference is held
        // by this struct for its lifetime); both accessors are thread-safe reads guarded by
        // the future's own internal lock.
        unsafe {
            aws_future_s3_buffer_ticket_is_done(self.inner) && aws_future_s3_buffer_ticket_get_error(self.inner) != 0
        }
    }

    /// Return the pointer to the inner `aws_future_s3_buffer_ticket` instance.
    ///
    /// # Safety
    /// The returned pointer follows ref-counting rules and must be eventually released.
    unsafe fn into_inner_ptr(mut self) -> *mut aws_future_s3_buffer_ticket {
        // Swap the pointer to return with null, so drop will be a no-op.
        std::mem::replace(&mut self.inner, std::ptr::null_mut())
    }
}

impl Clone for CrtTicketFuture {
    fn clone(&self) -> Self {
        // SAFETY: `self.inner` is a valid `aws_future_s3_buffer_ticket`, and we increment its
        // reference count on Clone and decrement it on Drop.
        let inner = unsafe { aws_future_s3_buffer_ticket_acquire(self.inner) };
        Self { inner }
    }
}

impl Drop for CrtTicketFuture {
    fn drop(&mut self) {
        // SAFETY: `self.inner` is a valid `aws_future_s3_buffer_ticket` (or null), and on Drop
        // it's safe to decrement the reference count since this is balancing the `acquire` in `new`.
        unsafe { aws_future_s3_buffer_ticket_release(self.inner) };
    }
}
