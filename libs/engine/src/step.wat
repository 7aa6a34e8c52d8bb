;; The row kernels of a dot-product training step and the Adam update, in WebAssembly SIMD
;; over one shared memory (a WasmArena holding the tables, the batch and its scratch), so the
;; trainer thread and its helper run the same code on disjoint rows. Offsets are in bytes;
;; widths `w` are in floats and a multiple of 4. Each row is computed from that row only, in
;; f32 lanes summed in a fixed order, so any split of rows across threads is bit-identical.
;; The scalar parts that need exp/log (BPR's loss and coefficient) stay in JS (kernels.ts).
(module
  (import "env" "mem" (memory 1 65536 shared))

  ;; sum of the four lanes, in lane order
  (func $hsum (param $v v128) (result f32)
    (f32.add
      (f32.add
        (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
        (f32x4.extract_lane 2 (local.get $v)))
      (f32x4.extract_lane 3 (local.get $v))))

  ;; out[b] = table[rows[b]] for from <= b < to
  (func $gather (export "gather") (param $table i32) (param $w i32) (param $rows i32) (param $out i32) (param $from i32) (param $to i32)
    (local $b i32) (local $rb i32) (local $src i32) (local $dst i32) (local $k i32)
    (local.set $rb (i32.shl (local.get $w) (i32.const 2)))
    (local.set $b (local.get $from))
    (block $done
      (loop $row
        (br_if $done (i32.ge_u (local.get $b) (local.get $to)))
        (local.set $src (i32.add (local.get $table) (i32.mul (i32.load (i32.add (local.get $rows) (i32.shl (local.get $b) (i32.const 2)))) (local.get $rb))))
        (local.set $dst (i32.add (local.get $out) (i32.mul (local.get $b) (local.get $rb))))
        (local.set $k (i32.const 0))
        (loop $copy
          (v128.store (i32.add (local.get $dst) (local.get $k)) (v128.load (i32.add (local.get $src) (local.get $k))))
          (br_if $copy (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 16))) (local.get $rb))))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $row))))

  ;; sp[b] = <eu_b, ei_b>, sn[b] = <eu_b, ej_b> (f32) for from <= b < to
  (func $dots (export "dots") (param $eu i32) (param $ei i32) (param $ej i32) (param $w i32) (param $sp i32) (param $sn i32) (param $from i32) (param $to i32)
    (local $b i32) (local $rb i32) (local $o i32) (local $k i32) (local $u v128) (local $ap v128) (local $an v128)
    (local.set $rb (i32.shl (local.get $w) (i32.const 2)))
    (local.set $b (local.get $from))
    (block $done
      (loop $row
        (br_if $done (i32.ge_u (local.get $b) (local.get $to)))
        (local.set $o (i32.mul (local.get $b) (local.get $rb)))
        (local.set $ap (v128.const i32x4 0 0 0 0))
        (local.set $an (v128.const i32x4 0 0 0 0))
        (local.set $k (i32.const 0))
        (loop $lanes
          (local.set $u (v128.load (i32.add (local.get $eu) (i32.add (local.get $o) (local.get $k)))))
          (local.set $ap (f32x4.add (local.get $ap) (f32x4.mul (local.get $u) (v128.load (i32.add (local.get $ei) (i32.add (local.get $o) (local.get $k)))))))
          (local.set $an (f32x4.add (local.get $an) (f32x4.mul (local.get $u) (v128.load (i32.add (local.get $ej) (i32.add (local.get $o) (local.get $k)))))))
          (br_if $lanes (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 16))) (local.get $rb))))
        (f32.store (i32.add (local.get $sp) (i32.shl (local.get $b) (i32.const 2))) (call $hsum (local.get $ap)))
        (f32.store (i32.add (local.get $sn) (i32.shl (local.get $b) (i32.const 2))) (call $hsum (local.get $an)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $row))))

  ;; BPR's gradient with coefficient c[b] per row: gu += c(i - j), gi += c u, gj -= c u
  (func $bpr_grad (export "bpr_grad") (param $eu i32) (param $ei i32) (param $ej i32) (param $w i32) (param $c i32) (param $gu i32) (param $gi i32) (param $gj i32) (param $from i32) (param $to i32)
    (local $b i32) (local $rb i32) (local $o i32) (local $k i32) (local $p i32) (local $cv v128) (local $u v128) (local $cu v128)
    (local.set $rb (i32.shl (local.get $w) (i32.const 2)))
    (local.set $b (local.get $from))
    (block $done
      (loop $row
        (br_if $done (i32.ge_u (local.get $b) (local.get $to)))
        (local.set $o (i32.mul (local.get $b) (local.get $rb)))
        (local.set $cv (v128.load32_splat (i32.add (local.get $c) (i32.shl (local.get $b) (i32.const 2)))))
        (local.set $k (i32.const 0))
        (loop $lanes
          (local.set $p (i32.add (local.get $o) (local.get $k)))
          (local.set $u (v128.load (i32.add (local.get $eu) (local.get $p))))
          (v128.store (i32.add (local.get $gu) (local.get $p))
            (f32x4.add (v128.load (i32.add (local.get $gu) (local.get $p)))
              (f32x4.mul (local.get $cv) (f32x4.sub (v128.load (i32.add (local.get $ei) (local.get $p))) (v128.load (i32.add (local.get $ej) (local.get $p)))))))
          (local.set $cu (f32x4.mul (local.get $cv) (local.get $u)))
          (v128.store (i32.add (local.get $gi) (local.get $p)) (f32x4.add (v128.load (i32.add (local.get $gi) (local.get $p))) (local.get $cu)))
          (v128.store (i32.add (local.get $gj) (local.get $p)) (f32x4.sub (v128.load (i32.add (local.get $gj) (local.get $p))) (local.get $cu)))
          (br_if $lanes (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 16))) (local.get $rb))))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $row))))

  ;; out = src + e·g/max(||g||, 1e-12), e = eps[b] (eps != 0) or epsScalar
  (func $perturb (export "perturb") (param $src i32) (param $g i32) (param $eps i32) (param $epsScalar f32) (param $w i32) (param $out i32) (param $from i32) (param $to i32)
    (local $b i32) (local $rb i32) (local $o i32) (local $k i32) (local $s v128) (local $x v128) (local $e f32) (local $f v128)
    (local.set $rb (i32.shl (local.get $w) (i32.const 2)))
    (local.set $b (local.get $from))
    (block $done
      (loop $row
        (br_if $done (i32.ge_u (local.get $b) (local.get $to)))
        (local.set $o (i32.mul (local.get $b) (local.get $rb)))
        (local.set $s (v128.const i32x4 0 0 0 0))
        (local.set $k (i32.const 0))
        (loop $norm
          (local.set $x (v128.load (i32.add (local.get $g) (i32.add (local.get $o) (local.get $k)))))
          (local.set $s (f32x4.add (local.get $s) (f32x4.mul (local.get $x) (local.get $x))))
          (br_if $norm (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 16))) (local.get $rb))))
        (local.set $e (if (result f32) (local.get $eps)
          (then (f32.load (i32.add (local.get $eps) (i32.shl (local.get $b) (i32.const 2)))))
          (else (local.get $epsScalar))))
        (local.set $f (f32x4.splat (f32.div (local.get $e) (f32.max (f32.sqrt (call $hsum (local.get $s))) (f32.const 1e-12)))))
        (local.set $k (i32.const 0))
        (loop $step
          (v128.store (i32.add (local.get $out) (i32.add (local.get $o) (local.get $k)))
            (f32x4.add (v128.load (i32.add (local.get $src) (i32.add (local.get $o) (local.get $k))))
              (f32x4.mul (local.get $f) (v128.load (i32.add (local.get $g) (i32.add (local.get $o) (local.get $k)))))))
          (br_if $step (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 16))) (local.get $rb))))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $row))))

  ;; sums[b] = ||x_b||² (stored as f64), g_b += c·x_b
  (func $l2 (export "l2") (param $x i32) (param $g i32) (param $w i32) (param $c f32) (param $sums i32) (param $from i32) (param $to i32)
    (local $b i32) (local $rb i32) (local $o i32) (local $k i32) (local $p i32) (local $s v128) (local $v v128) (local $cv v128)
    (local.set $rb (i32.shl (local.get $w) (i32.const 2)))
    (local.set $cv (f32x4.splat (local.get $c)))
    (local.set $b (local.get $from))
    (block $done
      (loop $row
        (br_if $done (i32.ge_u (local.get $b) (local.get $to)))
        (local.set $o (i32.mul (local.get $b) (local.get $rb)))
        (local.set $s (v128.const i32x4 0 0 0 0))
        (local.set $k (i32.const 0))
        (loop $lanes
          (local.set $p (i32.add (local.get $o) (local.get $k)))
          (local.set $v (v128.load (i32.add (local.get $x) (local.get $p))))
          (local.set $s (f32x4.add (local.get $s) (f32x4.mul (local.get $v) (local.get $v))))
          (v128.store (i32.add (local.get $g) (local.get $p)) (f32x4.add (v128.load (i32.add (local.get $g) (local.get $p))) (f32x4.mul (local.get $cv) (local.get $v))))
          (br_if $lanes (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 16))) (local.get $rb))))
        (f64.store (i32.add (local.get $sums) (i32.shl (local.get $b) (i32.const 3))) (f64.promote_f32 (call $hsum (local.get $s))))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $row))))

  ;; grad slot slots[b] += scale·src_b for 0 <= b < n, in b order (repeated slots accumulate)
  (func $scatter (export "scatter") (param $grad i32) (param $w i32) (param $slots i32) (param $src i32) (param $scale f32) (param $n i32)
    (local $b i32) (local $rb i32) (local $dst i32) (local $s i32) (local $k i32) (local $sv v128)
    (local.set $rb (i32.shl (local.get $w) (i32.const 2)))
    (local.set $sv (f32x4.splat (local.get $scale)))
    (block $done
      (loop $row
        (br_if $done (i32.ge_u (local.get $b) (local.get $n)))
        (local.set $dst (i32.add (local.get $grad) (i32.mul (i32.load (i32.add (local.get $slots) (i32.shl (local.get $b) (i32.const 2)))) (local.get $rb))))
        (local.set $s (i32.add (local.get $src) (i32.mul (local.get $b) (local.get $rb))))
        (local.set $k (i32.const 0))
        (loop $lanes
          (v128.store (i32.add (local.get $dst) (local.get $k))
            (f32x4.add (v128.load (i32.add (local.get $dst) (local.get $k))) (f32x4.mul (local.get $sv) (v128.load (i32.add (local.get $s) (local.get $k))))))
          (br_if $lanes (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 16))) (local.get $rb))))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $row))))

  ;; Adam/AdamW on touched slots q0, q0 + stride, ... < q1 of a ParamTable (optim.ts updateRange).
  ;; fac: per slot 8 f32 [lazy, dk, fs, epsBar, vMin, b1k, b2k, -]: lazy rows first advance their
  ;; skipped steps in closed form. A lazy row with an element whose √v is not above vMin (and m
  ;; not 0) needs the exact per-step recursion: the row is left untouched and its slot written to
  ;; exact[]; returns how many (optim.ts finishes them in JS).
  (func $adam (export "adam")
    (param $data i32) (param $grad i32) (param $m i32) (param $v i32) (param $last i32) (param $touched i32) (param $fac i32)
    (param $w i32) (param $q0 i32) (param $q1 i32) (param $stride i32) (param $t i32)
    (param $b1 f32) (param $b2 f32) (param $stepSize f32) (param $bc2 f32) (param $eps f32) (param $decay f32)
    (param $exact i32) (result i32)
    (local $q i32) (local $r i32) (local $rb i32) (local $o i32) (local $go i32) (local $k i32) (local $f i32) (local $cnt i32)
    (local $lazy f32) (local $dk v128) (local $fs v128) (local $epsBar v128) (local $vMin v128) (local $b1k v128) (local $b2k v128)
    (local $mk v128) (local $v0 v128) (local $sv v128) (local $th v128) (local $g v128) (local $vk v128) (local $bad v128)
    (local $vb1 v128) (local $vb2 v128) (local $v1b1 v128) (local $v1b2 v128) (local $vstep v128) (local $vbc2 v128) (local $veps v128) (local $vdecay v128) (local $zero v128)
    (local.set $rb (i32.shl (local.get $w) (i32.const 2)))
    (local.set $vb1 (f32x4.splat (local.get $b1)))
    (local.set $vb2 (f32x4.splat (local.get $b2)))
    (local.set $v1b1 (f32x4.splat (f32.sub (f32.const 1) (local.get $b1))))
    (local.set $v1b2 (f32x4.splat (f32.sub (f32.const 1) (local.get $b2))))
    (local.set $vstep (f32x4.splat (local.get $stepSize)))
    (local.set $vbc2 (f32x4.splat (local.get $bc2)))
    (local.set $veps (f32x4.splat (local.get $eps)))
    (local.set $vdecay (f32x4.splat (local.get $decay)))
    (local.set $zero (v128.const i32x4 0 0 0 0))
    (local.set $q (local.get $q0))
    (block $done
      (loop $slot
        (br_if $done (i32.ge_u (local.get $q) (local.get $q1)))
        (local.set $r (i32.load (i32.add (local.get $touched) (i32.shl (local.get $q) (i32.const 2)))))
        (local.set $o (i32.mul (local.get $r) (local.get $rb)))
        (local.set $go (i32.mul (local.get $q) (local.get $rb)))
        (local.set $f (i32.add (local.get $fac) (i32.shl (local.get $q) (i32.const 5))))
        (local.set $lazy (f32.load (local.get $f)))
        (block $next
          (if (f32.ne (local.get $lazy) (f32.const 0))
            (then
              (local.set $dk (v128.load32_splat offset=4 (local.get $f)))
              (local.set $fs (v128.load32_splat offset=8 (local.get $f)))
              (local.set $epsBar (v128.load32_splat offset=12 (local.get $f)))
              (local.set $vMin (v128.load32_splat offset=16 (local.get $f)))
              (local.set $b1k (v128.load32_splat offset=20 (local.get $f)))
              (local.set $b2k (v128.load32_splat offset=24 (local.get $f)))
              ;; any element needing the exact recursion: leave the row to JS
              (local.set $bad (local.get $zero))
              (local.set $k (i32.const 0))
              (loop $check
                (local.set $bad
                  (v128.or (local.get $bad)
                    (v128.and
                      (f32x4.ne (v128.load (i32.add (local.get $m) (i32.add (local.get $o) (local.get $k)))) (local.get $zero))
                      (v128.not (f32x4.gt (f32x4.sqrt (v128.load (i32.add (local.get $v) (i32.add (local.get $o) (local.get $k))))) (local.get $vMin))))))
                (br_if $check (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 16))) (local.get $rb))))
              (if (v128.any_true (local.get $bad))
                (then
                  (i32.store (i32.add (local.get $exact) (i32.shl (local.get $cnt) (i32.const 2))) (local.get $q))
                  (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))
                  (br $next)))
              (local.set $k (i32.const 0))
              (loop $lazylanes
                (local.set $mk (v128.load (i32.add (local.get $m) (i32.add (local.get $o) (local.get $k)))))
                (local.set $v0 (v128.load (i32.add (local.get $v) (i32.add (local.get $o) (local.get $k)))))
                (local.set $sv (f32x4.sqrt (local.get $v0)))
                ;; th = m == 0 ? θ·dk : θ·dk + fs·m/(√v + epsBar)
                (local.set $th (f32x4.mul (v128.load (i32.add (local.get $data) (i32.add (local.get $o) (local.get $k)))) (local.get $dk)))
                (local.set $th
                  (v128.bitselect
                    (local.get $th)
                    (f32x4.add (local.get $th) (f32x4.div (f32x4.mul (local.get $fs) (local.get $mk)) (f32x4.add (local.get $sv) (local.get $epsBar))))
                    (f32x4.eq (local.get $mk) (local.get $zero))))
                (local.set $g (v128.load (i32.add (local.get $grad) (i32.add (local.get $go) (local.get $k)))))
                (local.set $mk (f32x4.add (f32x4.mul (local.get $vb1) (f32x4.mul (local.get $mk) (local.get $b1k))) (f32x4.mul (local.get $v1b1) (local.get $g))))
                (local.set $vk (f32x4.add (f32x4.mul (f32x4.mul (local.get $vb2) (local.get $v0)) (local.get $b2k)) (f32x4.mul (f32x4.mul (local.get $v1b2) (local.get $g)) (local.get $g))))
                (v128.store (i32.add (local.get $m) (i32.add (local.get $o) (local.get $k))) (local.get $mk))
                (v128.store (i32.add (local.get $v) (i32.add (local.get $o) (local.get $k))) (local.get $vk))
                (v128.store (i32.add (local.get $data) (i32.add (local.get $o) (local.get $k)))
                  (f32x4.sub (f32x4.mul (local.get $th) (local.get $vdecay))
                    (f32x4.div (f32x4.mul (local.get $vstep) (local.get $mk)) (f32x4.add (f32x4.div (f32x4.sqrt (local.get $vk)) (local.get $vbc2)) (local.get $veps)))))
                (br_if $lazylanes (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 16))) (local.get $rb)))))
            (else
              (local.set $k (i32.const 0))
              (loop $lanes
                (local.set $g (v128.load (i32.add (local.get $grad) (i32.add (local.get $go) (local.get $k)))))
                (local.set $mk (f32x4.add (f32x4.mul (local.get $vb1) (v128.load (i32.add (local.get $m) (i32.add (local.get $o) (local.get $k))))) (f32x4.mul (local.get $v1b1) (local.get $g))))
                (local.set $vk (f32x4.add (f32x4.mul (local.get $vb2) (v128.load (i32.add (local.get $v) (i32.add (local.get $o) (local.get $k))))) (f32x4.mul (f32x4.mul (local.get $v1b2) (local.get $g)) (local.get $g))))
                (v128.store (i32.add (local.get $m) (i32.add (local.get $o) (local.get $k))) (local.get $mk))
                (v128.store (i32.add (local.get $v) (i32.add (local.get $o) (local.get $k))) (local.get $vk))
                (v128.store (i32.add (local.get $data) (i32.add (local.get $o) (local.get $k)))
                  (f32x4.sub (f32x4.mul (v128.load (i32.add (local.get $data) (i32.add (local.get $o) (local.get $k)))) (local.get $vdecay))
                    (f32x4.div (f32x4.mul (local.get $vstep) (local.get $mk)) (f32x4.add (f32x4.div (f32x4.sqrt (local.get $vk)) (local.get $vbc2)) (local.get $veps)))))
                (br_if $lanes (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 16))) (local.get $rb))))))
          (i32.store (i32.add (local.get $last) (i32.shl (local.get $r) (i32.const 2))) (local.get $t)))
        (local.set $q (i32.add (local.get $q) (local.get $stride)))
        (br $slot)))
    (local.get $cnt))
)
