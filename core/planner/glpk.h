// GLPK linear programs, and the environment GLPK keeps for each thread.
#ifndef GEOSTORM_CORE_PLANNER_GLPK_H_
#define GEOSTORM_CORE_PLANNER_GLPK_H_

#include <glpk.h>

#include <memory>

namespace geostorm::core {

using LpProblem = std::unique_ptr<glp_prob, decltype(&glp_delete_prob)>;

// A new, empty problem. GLPK makes an environment for a thread on its first call
// and keeps it until glp_free_env(); it is freed here when the calling thread ends,
// so the threads that plan (the controller's, the operator's workers) leave nothing.
inline LpProblem NewLpProblem() {
  thread_local const struct FreeAtThreadExit {
    ~FreeAtThreadExit() { glp_free_env(); }
  } free_at_thread_exit;
  (void)free_at_thread_exit;
  glp_term_out(GLP_OFF);  // glp_adv_basis() prints whatever the message level
  return LpProblem(glp_create_prob(), glp_delete_prob);
}

}  // namespace geostorm::core

#endif  // GEOSTORM_CORE_PLANNER_GLPK_H_
