;; A small dense matrix product in SIMD for the heads that are not dot products (NeuMF's MLP;
;; gemm.ts holds the layout and the callers):
;;
;;   C[r, c]  (+)=  Σ_t A(r, t) · B[t, c]      r < R, t < T, c < N
;;
;; A(r, t) is the float at aOff + 4·(r·ars + t·ats): ars = lda, ats = 1 reads A row-major, and
;; ars = 1, ats = lda reads it transposed (Aᵀ·B, the weight gradients Xᵀ·dZ) with no copy. B and
;; C are row-major with row strides ldb and ldc (floats). N is a multiple of 4; columns go 16 at a
;; time (four accumulators) while they last, then 4. For each output row and column block the
;; sum runs over t in order, one f32 multiply and add per term (no FMA: plain SIMD has none), so
;; the result does not depend on how the caller splits the rows.
;;
;; gemm(aOff, ars, ats, bOff, ldb, cOff, ldc, R, T, N, accumulate): offsets in bytes, strides
;; and sizes in floats; accumulate = 0 overwrites C, 1 adds to it.
(module
  (import "env" "mem" (memory 1))
  (func (export "gemm")
    (param $aOff i32) (param $ars i32) (param $ats i32) (param $bOff i32) (param $ldb i32)
    (param $cOff i32) (param $ldc i32) (param $R i32) (param $T i32) (param $N i32) (param $accumulate i32)
    (local $r i32) (local $c i32) (local $t i32) (local $ap i32) (local $bp i32) (local $cp i32)
    (local $atsB i32) (local $ldbB i32) (local $a v128)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128)
    (local.set $atsB (i32.shl (local.get $ats) (i32.const 2)))
    (local.set $ldbB (i32.shl (local.get $ldb) (i32.const 2)))
    (local.set $r (i32.const 0))
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $R)))
        (local.set $c (i32.const 0))
        ;; 16 columns at a time
        (block $c16_done
          (loop $c16
            (br_if $c16_done (i32.gt_u (i32.add (local.get $c) (i32.const 16)) (local.get $N)))
            (local.set $cp (i32.add (local.get $cOff)
              (i32.shl (i32.add (i32.mul (local.get $r) (local.get $ldc)) (local.get $c)) (i32.const 2))))
            (if (local.get $accumulate)
              (then
                (local.set $x0 (v128.load (local.get $cp)))
                (local.set $x1 (v128.load offset=16 (local.get $cp)))
                (local.set $x2 (v128.load offset=32 (local.get $cp)))
                (local.set $x3 (v128.load offset=48 (local.get $cp))))
              (else
                (local.set $x0 (v128.const f32x4 0 0 0 0))
                (local.set $x1 (v128.const f32x4 0 0 0 0))
                (local.set $x2 (v128.const f32x4 0 0 0 0))
                (local.set $x3 (v128.const f32x4 0 0 0 0))))
            (local.set $ap (i32.add (local.get $aOff) (i32.shl (i32.mul (local.get $r) (local.get $ars)) (i32.const 2))))
            (local.set $bp (i32.add (local.get $bOff) (i32.shl (local.get $c) (i32.const 2))))
            (local.set $t (i32.const 0))
            (block $t_done
              (loop $ts
                (br_if $t_done (i32.ge_u (local.get $t) (local.get $T)))
                (local.set $a (v128.load32_splat (local.get $ap)))
                (local.set $x0 (f32x4.add (local.get $x0) (f32x4.mul (local.get $a) (v128.load (local.get $bp)))))
                (local.set $x1 (f32x4.add (local.get $x1) (f32x4.mul (local.get $a) (v128.load offset=16 (local.get $bp)))))
                (local.set $x2 (f32x4.add (local.get $x2) (f32x4.mul (local.get $a) (v128.load offset=32 (local.get $bp)))))
                (local.set $x3 (f32x4.add (local.get $x3) (f32x4.mul (local.get $a) (v128.load offset=48 (local.get $bp)))))
                (local.set $ap (i32.add (local.get $ap) (local.get $atsB)))
                (local.set $bp (i32.add (local.get $bp) (local.get $ldbB)))
                (local.set $t (i32.add (local.get $t) (i32.const 1)))
                (br $ts)))
            (v128.store (local.get $cp) (local.get $x0))
            (v128.store offset=16 (local.get $cp) (local.get $x1))
            (v128.store offset=32 (local.get $cp) (local.get $x2))
            (v128.store offset=48 (local.get $cp) (local.get $x3))
            (local.set $c (i32.add (local.get $c) (i32.const 16)))
            (br $c16)))
        ;; the remaining columns, 4 at a time
        (block $c4_done
          (loop $c4
            (br_if $c4_done (i32.ge_u (local.get $c) (local.get $N)))
            (local.set $cp (i32.add (local.get $cOff)
              (i32.shl (i32.add (i32.mul (local.get $r) (local.get $ldc)) (local.get $c)) (i32.const 2))))
            (if (local.get $accumulate)
              (then (local.set $x0 (v128.load (local.get $cp))))
              (else (local.set $x0 (v128.const f32x4 0 0 0 0))))
            (local.set $ap (i32.add (local.get $aOff) (i32.shl (i32.mul (local.get $r) (local.get $ars)) (i32.const 2))))
            (local.set $bp (i32.add (local.get $bOff) (i32.shl (local.get $c) (i32.const 2))))
            (local.set $t (i32.const 0))
            (block $t4_done
              (loop $t4
                (br_if $t4_done (i32.ge_u (local.get $t) (local.get $T)))
                (local.set $x0 (f32x4.add (local.get $x0)
                  (f32x4.mul (v128.load32_splat (local.get $ap)) (v128.load (local.get $bp)))))
                (local.set $ap (i32.add (local.get $ap) (local.get $atsB)))
                (local.set $bp (i32.add (local.get $bp) (local.get $ldbB)))
                (local.set $t (i32.add (local.get $t) (i32.const 1)))
                (br $t4)))
            (v128.store (local.get $cp) (local.get $x0))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $c4)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows)))))
