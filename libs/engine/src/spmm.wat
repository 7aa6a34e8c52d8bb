;; Sparse propagation out = Â·x (and acc += out) over rows [r0, r1) of a CSR adjacency, for
;; row widths that are multiples of 32 floats. All operands live in one shared memory (a
;; WasmArena) and are passed as byte offsets; acc = 0 means "no accumulator".
;;
;; Per output row and 32-float block: 8 f32x4 accumulators summed over the row's non-zeros in
;; CSR order, f32 multiply then f32 add. A row's result depends only on that row, never on the
;; thread or row range, so any split across threads is bit-identical.
(module
  (import "env" "mem" (memory 1 65536 shared))
  (func $spmm (export "spmm")
    (param $indptr i32) (param $indices i32) (param $values i32)
    (param $x i32) (param $out i32) (param $acc i32)
    (param $r0 i32) (param $r1 i32) (param $rowBytes i32)
    (local $r i32) (local $kb i32) (local $p i32) (local $p1 i32) (local $xo i32) (local $oo i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128)
    (local $w v128)
    (local.set $r (local.get $r0))
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $r1)))
        (local.set $kb (i32.const 0))
        (block $blocks_done
          (loop $blocks
            (br_if $blocks_done (i32.ge_u (local.get $kb) (local.get $rowBytes)))
            (local.set $a0 (v128.const i32x4 0 0 0 0))
            (local.set $a1 (v128.const i32x4 0 0 0 0))
            (local.set $a2 (v128.const i32x4 0 0 0 0))
            (local.set $a3 (v128.const i32x4 0 0 0 0))
            (local.set $a4 (v128.const i32x4 0 0 0 0))
            (local.set $a5 (v128.const i32x4 0 0 0 0))
            (local.set $a6 (v128.const i32x4 0 0 0 0))
            (local.set $a7 (v128.const i32x4 0 0 0 0))
            ;; p = indptr[r], p1 = indptr[r + 1]
            (local.set $xo (i32.add (local.get $indptr) (i32.mul (local.get $r) (i32.const 4))))
            (local.set $p (i32.load (local.get $xo)))
            (local.set $p1 (i32.load offset=4 (local.get $xo)))
            (block $nz_done
              (loop $nz
                (br_if $nz_done (i32.ge_u (local.get $p) (local.get $p1)))
                ;; xo = x + indices[p]·rowBytes + kb; w = splat(values[p])
                (local.set $xo
                  (i32.add
                    (i32.add (local.get $x)
                      (i32.mul (i32.load (i32.add (local.get $indices) (i32.mul (local.get $p) (i32.const 4))))
                               (local.get $rowBytes)))
                    (local.get $kb)))
                (local.set $w (v128.load32_splat (i32.add (local.get $values) (i32.mul (local.get $p) (i32.const 4)))))
                (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $w) (v128.load offset=0 (local.get $xo)))))
                (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $w) (v128.load offset=16 (local.get $xo)))))
                (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $w) (v128.load offset=32 (local.get $xo)))))
                (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $w) (v128.load offset=48 (local.get $xo)))))
                (local.set $a4 (f32x4.add (local.get $a4) (f32x4.mul (local.get $w) (v128.load offset=64 (local.get $xo)))))
                (local.set $a5 (f32x4.add (local.get $a5) (f32x4.mul (local.get $w) (v128.load offset=80 (local.get $xo)))))
                (local.set $a6 (f32x4.add (local.get $a6) (f32x4.mul (local.get $w) (v128.load offset=96 (local.get $xo)))))
                (local.set $a7 (f32x4.add (local.get $a7) (f32x4.mul (local.get $w) (v128.load offset=112 (local.get $xo)))))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br $nz)))
            ;; the output row block; acc += it when asked
            (local.set $oo (i32.add (i32.add (local.get $out) (i32.mul (local.get $r) (local.get $rowBytes))) (local.get $kb)))
            (v128.store offset=0 (local.get $oo) (local.get $a0))
            (v128.store offset=16 (local.get $oo) (local.get $a1))
            (v128.store offset=32 (local.get $oo) (local.get $a2))
            (v128.store offset=48 (local.get $oo) (local.get $a3))
            (v128.store offset=64 (local.get $oo) (local.get $a4))
            (v128.store offset=80 (local.get $oo) (local.get $a5))
            (v128.store offset=96 (local.get $oo) (local.get $a6))
            (v128.store offset=112 (local.get $oo) (local.get $a7))
            (if (local.get $acc)
              (then
                (local.set $oo (i32.add (i32.add (local.get $acc) (i32.mul (local.get $r) (local.get $rowBytes))) (local.get $kb)))
                (v128.store offset=0 (local.get $oo) (f32x4.add (v128.load offset=0 (local.get $oo)) (local.get $a0)))
                (v128.store offset=16 (local.get $oo) (f32x4.add (v128.load offset=16 (local.get $oo)) (local.get $a1)))
                (v128.store offset=32 (local.get $oo) (f32x4.add (v128.load offset=32 (local.get $oo)) (local.get $a2)))
                (v128.store offset=48 (local.get $oo) (f32x4.add (v128.load offset=48 (local.get $oo)) (local.get $a3)))
                (v128.store offset=64 (local.get $oo) (f32x4.add (v128.load offset=64 (local.get $oo)) (local.get $a4)))
                (v128.store offset=80 (local.get $oo) (f32x4.add (v128.load offset=80 (local.get $oo)) (local.get $a5)))
                (v128.store offset=96 (local.get $oo) (f32x4.add (v128.load offset=96 (local.get $oo)) (local.get $a6)))
                (v128.store offset=112 (local.get $oo) (f32x4.add (v128.load offset=112 (local.get $oo)) (local.get $a7)))))
            (local.set $kb (i32.add (local.get $kb) (i32.const 128)))
            (br $blocks)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows)))))
